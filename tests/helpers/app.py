"""The app's trigger functions called directly, with real azure.functions types."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
from azure.functions.servicebus import ServiceBusMessage

import function_app


def fresh_app_functions() -> list:
    """The app's functions from a fresh FunctionApp (get_functions may run once per app)."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    for blueprint in function_app.BLUEPRINTS:
        app.register_functions(blueprint)
    return app.get_functions()


def user_functions() -> dict[str, Any]:
    """Name → user function of the real app."""
    return {f.get_function_name(): f.get_user_function() for f in fresh_app_functions()}


def http(
    method: str, path: str, *, key: str | None = "admin-key", body: Any = None, raw: bytes | None = None,
    params: dict | None = None, route: dict | None = None, headers: dict | None = None,
) -> func.HttpRequest:
    """An API request to `path` (under /api/) as the holder of `key` sends it."""
    all_headers = {"content-type": "application/json", **(headers or {})}
    if key:
        all_headers["authorization"] = f"Bearer {key}"
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    return func.HttpRequest(
        method, f"http://localhost/api/{path}", headers=all_headers, params=params or {},
        route_params=route or {}, body=data,
    )


def message(body: bytes | str, message_id: str = "m-1", session_id: str | None = None) -> ServiceBusMessage:
    """A Service Bus message as the host hands it to a queue trigger (first delivery)."""
    return ServiceBusMessage(
        body=body.encode() if isinstance(body, str) else body,
        message_id=message_id, session_id=session_id, delivery_count=1,
        application_properties={}, user_properties={},
    )


def payload(response: func.HttpResponse) -> Any:
    """The JSON body of a response."""
    return json.loads(response.get_body())
