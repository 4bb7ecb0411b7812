"""Request desk routes: the Power Automate intake and the staff workflow (docs/architecture.md §6)."""

from __future__ import annotations

import azure.functions as func

from functions.http import PAGED, Call, endpoint, listed
from functions.openapi import describe_v2
from functions.ops import VERSION
from shared.errors import FieldError, InvalidInput
from shared.models.request import (
    Comment,
    CommentIn,
    Receipt,
    Request,
    RequestChange,
    RequestSubmission,
    RequestView,
    State,
    Task,
    TaskChange,
    TaskIn,
)
from shared.models.role import Role
from shared.services import requests
from shared.services.notifications import request_link, requester_link

bp = func.Blueprint()


@endpoint(
    bp, "requests", name="requests_submit", methods=("POST",), role=Role.requests_submit,
    summary="Submit a form response (Power Automate); idempotent on form_response_id",
    body=RequestSubmission, response=Receipt, statuses=(200, 201, 403, 503),
)
def submit(call: Call):
    result = requests.submit(call.rt, call.body, call.actor)
    request = result.request
    receipt = Receipt(
        number=request.number, state=request.state, link=request_link(call.rt.settings, request.number),
        requester_link=requester_link(call.rt, request.number), form_response_id=request.form_response_id, created_at=request.created_at,
    )  # fmt: skip
    return (201 if result.created else 200), receipt


@endpoint(
    bp, "requests", name="requests_list", methods=("GET",), role=Role.requests_manage,
    summary="List requests, filtered by state and owner, in number order",
    query=("state", "owner", *PAGED), statuses=(200, 400, 422),
)
def list_requests(call: Call):
    state, owner = call.query("state"), call.query("owner", max_length=254)
    if state is not None and state not in {s.value for s in State}:
        raise InvalidInput("unknown state", [FieldError("state", f"one of {', '.join(State)}")])
    page = call.page("requests", state=state, owner=owner)
    found, following = requests.request_page(call.rt, State(state) if state else None, owner, page)
    return listed(([_view(call, r) for r in found], following))


@endpoint(
    bp, "requests/{number}", name="requests_get", methods=("GET",), role=Role.requests_manage,
    summary="Read one request with its comments and tasks", response=RequestView, statuses=(200, 404),
)
def get_request(call: Call):
    return _view(call, requests.get(call.rt, call.route["number"]))


@endpoint(
    bp, "requests/{number}", name="requests_change", methods=("PATCH",), role=Role.requests_manage,
    summary="Change a request's state and/or owner; an invalid transition is a 409",
    body=RequestChange, response=RequestView, statuses=(200, 404, 409),
)
def change_request(call: Call):
    return _view(call, requests.change(call.rt, call.route["number"], call.body, call.actor))


@endpoint(
    bp, "requests/{number}/comments", name="requests_comment", methods=("POST",), role=Role.requests_manage,
    summary="Comment on a request; every @address mentioned is emailed the comment",
    body=CommentIn, response=Comment, statuses=(201, 404, 409),
)
def add_comment(call: Call):
    return 201, requests.comment(call.rt, call.route["number"], call.body, call.actor)


@endpoint(
    bp, "requests/{number}/tasks", name="requests_task_create", methods=("POST",), role=Role.requests_manage,
    summary="Add a task (invite/reset/remove: optionally with manual provisioning orders)",
    body=TaskIn, response=Task, statuses=(201, 404, 409),
)
def create_task(call: Call):
    return 201, requests.create_task(call.rt, call.route["number"], call.body, call.actor)


@endpoint(
    bp, "requests/{number}/tasks/{id}", name="requests_task_change", methods=("PATCH",), role=Role.requests_manage,
    summary="Assign (assignee, null to unassign) or rename an open task",
    body=TaskChange, response=Task, statuses=(200, 404, 409),
)
def change_task(call: Call):
    route = call.route
    return requests.change_task(call.rt, route["number"], route["id"], call.body, call.actor)


@endpoint(
    bp, "requests/{number}/tasks/{id}/complete", name="requests_task_complete", methods=("POST",),
    role=Role.requests_manage, summary="Complete a task (its orders must be Executed); emails the requester",
    response=Task, statuses=(200, 404, 409),
)
def complete_task(call: Call):
    return requests.complete_task(call.rt, call.route["number"], call.route["id"], call.actor)


@endpoint(
    bp, "openapi-v2.json", name="requests_openapi_v2", methods=("GET",), role=None, query=("role",),
    summary="OpenAPI 2.0 (Swagger) description for a Power Automate custom connector",
)
def openapi_v2(call: Call):
    return describe_v2(VERSION, call.rt.settings.public_url, role=call.query("role", max_length=64))


def _view(call: Call, request: Request) -> RequestView:
    return RequestView(**request.model_dump(), link=request_link(call.rt.settings, request.number))

