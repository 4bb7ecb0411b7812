"""The app's HTTP functions called directly with real azure.functions requests (a plain
module: suites import it, never a conftest)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import azure.functions as func

import function_app


@cache
def app_functions() -> dict[str, Any]:
    """Name → user function of a fresh FunctionApp (get_functions may run once per app)."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    for blueprint in function_app.BLUEPRINTS:
        app.register_functions(blueprint)
    return {f.get_function_name(): f.get_user_function() for f in app.get_functions()}


def call(name: str, method: str, path: str, *, key: str = "admin-key", body: Any = None,
         raw: bytes | None = None, params: dict | None = None, route: dict | None = None) -> func.HttpResponse:
    """Call HTTP function `name` as the Functions host would."""
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    request = func.HttpRequest(
        method, f"http://localhost/api/{path}", body=data, params=params or {}, route_params=route or {},
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
    )
    return app_functions()[name](request)


def payload(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())
