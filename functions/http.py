"""HTTP plumbing shared by every route: authentication, roles, bodies, problems (RFC 9457).

A route module declares `@endpoint(...)` on a handler taking a `Call`; this module turns
it into an HTTP-triggered function and records it for the OpenAPI description.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from functions.auth import Principal, authenticate, require
from shared import telemetry
from shared.errors import (  # noqa: F401 (field_path, invalid: re-exported for queues and console)
    BodyTooLarge,
    DocumentTooLarge,
    FieldError,
    InvalidInput,
    MalformedBody,
    NotFound,
    RosterError,
    field_path,
    invalid,
    parse_json,
)
from shared.models.base import plain_text
from shared.models.role import Role, Roles, needed
from shared.runtime import Runtime, runtime
from shared.services import paging
from shared.services.paging import Page

log = logging.getLogger("roster.http")
MAX_ROUTE_VALUE = 256  # characters of one path id: every id Roster makes or accepts is shorter
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class RouteInfo:
    """What the OpenAPI description says about one HTTP function."""

    name: str
    route: str
    methods: tuple[str, ...]
    role: Roles
    summary: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    query: tuple[str, ...] = ()
    statuses: tuple[int, ...] = (200,)
    public: bool = False
    errors: str = "problem"  # or "scim": SCIM's error schema (the SCIM service, docs/scim.md)
    media: str = "application/json"  # what a success carries; console pages: text/html

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", needed(self.role))  # a typo fails here, at import


ROUTES: list[RouteInfo] = []
PAGED = ("limit", "next")  # the query parameters of every paged list


def listed(page: tuple[list, str | None]) -> dict:
    """A list's answer: `{"items": [...], "next": <token or null>}`."""
    items, following = page
    return {"items": items, "next": following}


@dataclass
class Call:
    """One HTTP call as a handler sees it."""

    req: func.HttpRequest
    rt: Runtime
    principal: Principal | None
    body: Any = None
    route: dict[str, str] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        return self.principal.name if self.principal else "anonymous"

    @property
    def roles(self) -> frozenset[str]:
        return self.principal.roles if self.principal else frozenset()

    def page(self, list_name: str, **filters: Any) -> Page:
        """The page asked for by `?limit=` and `?next=` of the list `list_name` with `filters`
        (shared/services/paging.py: 422 naming limit, 400 naming next)."""
        return paging.page(list_name, filters, self.query("limit"), self.query("next", max_length=paging.MAX_TOKEN))

    def query(self, name: str, *, required: bool = False, max_length: int = 256) -> str | None:
        value = self.req.params.get(name)
        if value is None or value == "":
            if required:
                raise InvalidInput(f"{name} is required", [FieldError(name, "required")])
            return None
        if len(value) > max_length:
            raise InvalidInput(f"{name} is too long", [FieldError(name, f"at most {max_length} characters")])
        try:
            return plain_text(value)
        except ValueError as refused:
            raise InvalidInput(f"{name} {refused}", [FieldError(name, str(refused))]) from None


def endpoint(
    bp: func.Blueprint,
    route: str,
    *,
    name: str,
    methods: tuple[str, ...],
    role: Role | tuple[Role, ...] | None,
    summary: str,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    query: tuple[str, ...] = (),
    statuses: tuple[int, ...] = (200,),
    public: bool = False,
) -> Callable:
    """Register `handler(call) -> payload | (status, payload) | HttpResponse` as a function."""
    info = RouteInfo(name, route, methods, role, summary, body, response, query, statuses, public)

    def decorate(handler: Callable[[Call], Any]) -> Callable[[Call], Any]:
        register(bp, info, lambda req: dispatch(req, info, handler))
        return handler

    return decorate


def register(bp: func.Blueprint, info: RouteInfo, serve: Callable[[func.HttpRequest], func.HttpResponse]) -> None:
    """An anonymous-at-the-host HTTP function named `info.name` (roles are the app's job),
    recorded for the OpenAPI description; each call is one server span (shared/telemetry.py)."""

    def function(req: func.HttpRequest) -> func.HttpResponse:
        with telemetry.serving(info.name, info.route, req.method.upper(), req.headers) as span:
            response = serve(req)
            span.status(response.status_code)
            return response

    function.__name__ = function.__qualname__ = info.name
    function.__doc__ = info.summary
    bp.function_name(info.name)(
        bp.route(route=info.route, methods=list(info.methods), auth_level=func.AuthLevel.ANONYMOUS)(function)
    )
    ROUTES.append(info)


def dispatch(req: func.HttpRequest, info: RouteInfo, handler: Callable[[Call], Any]) -> func.HttpResponse:
    try:
        rt = runtime()
        principal = None
        if not info.public:
            principal = authenticate(req, rt.settings)
            require(principal, info.role)
        call = Call(req, rt, principal, route=route_values(req))
        if info.body is not None:
            call.body = parse_body(req, info.body, rt.settings.max_message_bytes)
        return respond(handler(call))
    except RosterError as error:
        return problem(error, req)
    except ValidationError as error:
        return problem(invalid(error), req)
    except Exception:
        log.exception("unhandled error in %s", info.name)
        return problem(RosterError("an unexpected error occurred; it has been logged"), req, 500)


def route_values(req: func.HttpRequest) -> dict[str, str]:
    """The path's ids; one no stored id can be (too long, a control character) is a 404."""
    values = dict(req.route_params)
    for name, value in values.items():
        if len(value) > MAX_ROUTE_VALUE or _CONTROL.search(value):
            raise NotFound(f"no such {name}: the value cannot be an id")
    return values


def parse_body(req: func.HttpRequest, model: type[BaseModel], limit: int) -> BaseModel:
    """The JSON body as `model`. `limit` is ROSTER_MAX_MESSAGE_BYTES: what a route takes in
    fits on the bus, where an async route hands it on."""
    raw = req.get_body() or b""
    if len(raw) > limit:
        raise BodyTooLarge(f"the body is {len(raw)} bytes; the limit is {limit}")
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise MalformedBody("the body must be a JSON object")
    return model.model_validate(data)


def respond(result: Any) -> func.HttpResponse:
    if isinstance(result, func.HttpResponse):
        return result
    status, payload = result if isinstance(result, tuple) else (200, result)
    return json_response(payload, status)


def json_response(payload: Any, status: int = 200, headers: dict | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(to_jsonable_python(payload), ensure_ascii=False),
        status_code=status,
        headers=headers,
        mimetype="application/json",
        charset="utf-8",
    )


def problem(error: RosterError, req: func.HttpRequest, status: int | None = None) -> func.HttpResponse:
    status = status or error.status
    body: dict[str, Any] = {
        "type": f"urn:roster:problem:{error.slug if status != 500 else 'internal'}",
        "title": error.title if status != 500 else "Internal error",
        "status": status,
        "detail": error.detail,
    }
    if error.errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in error.errors]
    body.update(getattr(error, "extra", {}))
    headers = {"WWW-Authenticate": 'Bearer realm="roster"'} if status == 401 else None
    if status == 429:
        headers = {"Retry-After": str(body.get("retry_after", 1))}
    return func.HttpResponse(
        json.dumps(body, ensure_ascii=False),
        status_code=status,
        headers=headers,
        mimetype="application/problem+json",
        charset="utf-8",
    )
