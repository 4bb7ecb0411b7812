"""Trigger functions called directly, with real azure.functions types."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage

import function_app


def fresh_app_functions() -> list:
    """The app's functions from a fresh FunctionApp (get_functions may run once per app)."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    for blueprint in function_app.BLUEPRINTS:
        app.register_functions(blueprint)
    return app.get_functions()


@pytest.fixture(scope="session")
def functions() -> dict[str, Any]:
    """Name → user function."""
    return {f.get_function_name(): f.get_user_function() for f in fresh_app_functions()}


def http(
    method: str, path: str, *, key: str | None = "admin-key", body: Any = None, raw: bytes | None = None,
    params: dict | None = None, route: dict | None = None, headers: dict | None = None,
) -> func.HttpRequest:
    all_headers = {"content-type": "application/json", **(headers or {})}
    if key:
        all_headers["authorization"] = f"Bearer {key}"
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    return func.HttpRequest(
        method, f"http://localhost/api/{path}", headers=all_headers, params=params or {},
        route_params=route or {}, body=data,
    )


def message(body: bytes | str, message_id: str = "m-1", session_id: str | None = None) -> ServiceBusMessage:
    return ServiceBusMessage(
        body=body.encode() if isinstance(body, str) else body,
        message_id=message_id, session_id=session_id, delivery_count=1,
        application_properties={}, user_properties={},
    )


def payload(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())
