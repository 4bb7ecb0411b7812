"""Plain helpers for the hardening suite: the app's HTTP functions called in-process, and a
tiny HTTP receiver on 127.0.0.1 that records what reaches it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import azure.functions as func

import function_app

_FUNCTIONS: dict[str, Any] = {}


def functions() -> dict[str, Any]:
    """Function name → user function, from one fresh FunctionApp (get_functions runs once)."""
    if not _FUNCTIONS:
        app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
        for blueprint in function_app.BLUEPRINTS:
            app.register_functions(blueprint)
        _FUNCTIONS.update({f.get_function_name(): f.get_user_function() for f in app.get_functions()})
    return _FUNCTIONS


def call(
    name: str, method: str = "GET", *, key: str | None = "admin-key", body: Any = None, raw: bytes | None = None,
    route: dict | None = None, params: dict | None = None, headers: dict | None = None,
) -> func.HttpResponse:
    """Call the HTTP function `name` with a real func.HttpRequest."""
    all_headers = {"content-type": "application/json", **(headers or {})}
    if key:
        all_headers["authorization"] = f"Bearer {key}"
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    request = func.HttpRequest(method, f"http://localhost/api/{name}", headers=all_headers,
                               params=params or {}, route_params=route or {}, body=data)
    return functions()[name](request)


def payload(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


def problem_fields(response: func.HttpResponse) -> list[str]:
    """The fields a 4xx problem document names."""
    return [e["field"] for e in payload(response).get("errors", [])]


@contextmanager
def receiver() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """(port, requests): every request's headers are recorded; each is answered 204."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            seen.append(dict(self.headers.items()))
            self.send_response(204)
            self.end_headers()

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_port, seen
    finally:
        server.shutdown()
        server.server_close()


def console(name: str, method: str = "GET", *, session: str = "", form: dict | None = None,
            route: dict | None = None) -> func.HttpResponse:
    """A console page as a browser holding the `roster_session` cookie `session` gets it."""
    cookies = f"roster_csrf=csrf-token; roster_session={session}" if session else "roster_csrf=csrf-token"
    headers = {"cookie": cookies}
    body = b""
    if method == "POST":
        headers["content-type"] = "application/x-www-form-urlencoded"
        body = urlencode({**(form or {}), "csrf": "csrf-token"}).encode()
    request = func.HttpRequest(method, f"http://localhost/api/console/{name}", headers=headers, params={},
                               route_params=route or {}, body=body)
    return functions()[name](request)


def set_cookies(response: func.HttpResponse) -> dict[str, str]:
    """name → value of each Set-Cookie of a response."""
    pairs = (c.split(";", 1)[0].split("=", 1) for c in response.headers.getlist("Set-Cookie"))
    return {name: value for name, value in pairs}
