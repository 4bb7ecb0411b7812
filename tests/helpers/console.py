"""The console's functions called as a browser would: its cookies, its form posts, and the
pages it gets back."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import urlencode

import azure.functions as func

from functions.auth import key_digest
from shared.services import sessions

CSRF = "test-csrf-token"


class Browser:
    """Calls console functions as a browser signed in with `key` would."""

    def __init__(self, functions: dict[str, Any], key: str | None, rt=None):
        self.functions = functions
        self.key = key
        self.csrf = CSRF
        self.session = sessions.start(rt, key_digest(key)) if key and rt is not None else None

    def cookies(self) -> str:
        parts = [f"roster_csrf={self.csrf}"] if self.csrf else []
        if self.session:
            parts.append(f"roster_session={self.session}")
        return "; ".join(parts)

    def get(self, name: str, path: str, *, params: dict | None = None, route: dict | None = None,
            headers: dict | None = None) -> func.HttpResponse:
        return self.call(name, "GET", path, params=params, route=route, headers=headers)

    def post(self, name: str, path: str, form: dict | list | None = None, *, route: dict | None = None,
             csrf: str | None = None, headers: dict | None = None) -> func.HttpResponse:
        pairs = list(form.items()) if isinstance(form, dict) else list(form or [])
        pairs.append(("csrf", self.csrf if csrf is None else csrf))
        body = urlencode(pairs, doseq=True).encode()
        all_headers = {"content-type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.call(name, "POST", path, body=body, route=route, headers=all_headers)

    def call(self, name: str, method: str, path: str, *, params: dict | None = None, route: dict | None = None,
             body: bytes = b"", headers: dict | None = None) -> func.HttpResponse:
        all_headers = {"cookie": self.cookies(), **(headers or {})}
        req = func.HttpRequest(method, f"http://localhost/api/console/{path}", headers=all_headers,
                               params=params or {}, route_params=route or {}, body=body)
        return self.functions[name](req)


def html(response: func.HttpResponse) -> str:
    """The page's HTML (the response must be a page)."""
    assert response.mimetype == "text/html", response.get_body()[:300]
    return response.get_body().decode()


def text(response: func.HttpResponse) -> str:
    """The page's visible text, tags stripped, whitespace collapsed."""
    body = html(response)
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def location(response: func.HttpResponse) -> str:
    """Where a 303 redirect sends the browser."""
    assert response.status_code == 303, (response.status_code, response.get_body()[:500])
    return response.headers["Location"]
