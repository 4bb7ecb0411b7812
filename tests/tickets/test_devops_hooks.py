"""Azure DevOps → Roster: service-hook events move requests and add comments, once each,
authenticated with the shared secret, and Roster's own changes echoed back change nothing."""

from __future__ import annotations

import base64
import json

import azure.functions as func
import pytest

from shared.errors import NotAuthenticated, NotFound
from shared.models.request import RequestChange, RequestSubmission, State
from shared.services import requests
from shared.services.ticket_hooks import HookEvent, receive
from tests.tickets.conftest import HOOK_SECRET
from tests.tickets.mirror_steps import form, pump


def basic(secret: str, user: str = "devops") -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def updated(event_id: str, item_id: int, old: str, new: str, who: str = "Holly Desk") -> HookEvent:
    return HookEvent.model_validate({
        "id": event_id, "eventType": "workitem.updated", "publisherId": "tfs",
        "resource": {"id": 7, "workItemId": item_id, "rev": 5, "revisedBy": {"displayName": who},
                     "fields": {"System.State": {"oldValue": old, "newValue": new}}}})


def commented(event_id: str, item_id: int, text: str) -> HookEvent:
    return HookEvent.model_validate({
        "id": event_id, "eventType": "workitem.commented",
        "resource": {"id": item_id, "rev": 6, "fields": {"System.History": text,
                                                          "System.ChangedBy": "Holly Desk <holly@example.edu>"}}})


@pytest.fixture
def mirrored_request(mirrored, devops):
    request = requests.submit(mirrored, RequestSubmission.model_validate(form()), "flow").request
    pump(mirrored)
    return request.number, next(iter(devops.items))


def test_a_state_change_in_devops_moves_the_request_once_and_is_not_echoed_back(mirrored, devops, mirrored_request):
    number, item_id = mirrored_request
    devops.bump(item_id, **{"System.State": "In Planning"})  # Holly moves the work item in Boards
    answer = receive(mirrored, updated("e-1", item_id, "To Do", "In Planning"), basic(HOOK_SECRET))
    assert answer == {"outcome": "applied", "number": number, "state": "InPlanning"}
    request = requests.get(mirrored, number)
    assert request.state == State.in_planning
    trail = [e for e in requests.RequestRepository(mirrored.store).trail(number) if e["action"] == "request.state_changed"]
    assert trail[-1]["actor"] == "devops:Holly Desk" and "Azure DevOps" in trail[-1]["why"]
    assert receive(mirrored, updated("e-1", item_id, "To Do", "In Planning"), basic(HOOK_SECRET)) == {
        "outcome": "duplicate"}
    patches_before = len(devops.calls_to("PATCH", r"workitems/\d+$"))
    pump(mirrored)  # the mirror sees DevOps already in In Planning: nothing to send
    assert len(devops.calls_to("PATCH", r"workitems/\d+$")) == patches_before
    echo = receive(mirrored, updated("e-2", item_id, "To Do", "In Planning"), basic(HOOK_SECRET))
    assert echo["outcome"] == "unchanged"


def test_roster_changes_echoed_by_devops_change_nothing(mirrored, devops, mirrored_request):
    number, item_id = mirrored_request
    requests.change(mirrored, number, RequestChange(state=State.in_planning), "holly@example.edu")
    pump(mirrored)
    version = requests.get(mirrored, number).version
    assert receive(mirrored, updated("e-3", item_id, "To Do", "In Planning"), basic(HOOK_SECRET))["outcome"] == (
        "unchanged")
    assert requests.get(mirrored, number).version == version


def test_a_devops_comment_becomes_a_roster_comment_and_roster_comments_are_not_taken_back(mirrored, devops,
                                                                                       mirrored_request):
    number, item_id = mirrored_request
    answer = receive(mirrored, commented("c-1", item_id, "<div>Alan starts <b>Monday</b> &amp; needs VPN</div>"),
                     basic(HOOK_SECRET))
    assert answer["outcome"] == "applied"
    comment = requests.get(mirrored, number).comments[-1]
    assert comment.text == "Alan starts  Monday  & needs VPN" and comment.author == "devops:Holly Desk"
    pump(mirrored)
    assert devops.comments.get(item_id, []) == []  # never posted back
    own = receive(mirrored, commented("c-2", item_id, "<p>hello</p><p><small>x in Roster · roster-comment:ab12</small></p>"),
                  basic(HOOK_SECRET))
    assert own["outcome"] == "unchanged" and len(requests.get(mirrored, number).comments) == 1


def test_a_move_the_desk_does_not_allow_is_acknowledged_and_ignored(mirrored, mirrored_request):
    number, item_id = mirrored_request
    answer = receive(mirrored, updated("e-4", item_id, "To Do", "Closed"), basic(HOOK_SECRET))
    assert answer["outcome"] == "ignored" and requests.get(mirrored, number).state == State.new


def test_hooks_need_the_shared_secret_and_the_mirror(mirrored, rt, mirrored_request):
    _, item_id = mirrored_request
    for authorization in (None, basic("wrong"), "Bearer " + HOOK_SECRET, "Basic !!notbase64"):
        with pytest.raises(NotAuthenticated):
            receive(mirrored, updated("e-5", item_id, "To Do", "Doing"), authorization)
    unknown = receive(mirrored, updated("e-6", 999, "To Do", "Doing"), basic(HOOK_SECRET))
    assert unknown["outcome"] == "ignored"


def test_with_the_mirror_off_the_hook_route_is_not_there(rt):
    with pytest.raises(NotFound):
        receive(rt, updated("e-7", 1, "To Do", "Doing"), basic(HOOK_SECRET))


def test_the_hook_route_answers_problems_for_bad_secrets_and_malformed_events(mirrored, mirrored_request):
    import function_app

    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    for blueprint in function_app.BLUEPRINTS:
        app.register_functions(blueprint)
    hook = next(f for f in app.get_functions() if f.get_function_name() == "devops_hooks").get_user_function()
    _, item_id = mirrored_request
    event = updated("e-8", item_id, "To Do", "In Planning").model_dump()

    def post(body: bytes, authorization: str) -> func.HttpResponse:
        return hook(func.HttpRequest("POST", "http://localhost/api/devops/hooks", body=body, params={},
                                     headers={"content-type": "application/json", "authorization": authorization}))

    assert post(json.dumps(event).encode(), basic("nope")).status_code == 401
    malformed = post(json.dumps({"eventType": "workitem.updated"}).encode(), basic(HOOK_SECRET))
    assert malformed.status_code == 422 and json.loads(malformed.get_body())["errors"][0]["field"] == "id"
    ok = post(json.dumps(event).encode(), basic(HOOK_SECRET))
    assert ok.status_code == 200 and json.loads(ok.get_body())["outcome"] == "applied"
