"""The console's functions called directly, with real azure.functions types: a browser's
cookies, its form posts, and the pages they get back."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest

from functions.auth import key_digest
from shared.models.provisioning import Target
from shared.services import sessions
from shared.store.targets import TargetRepository
from tests.conftest import KEYS as BASE_KEYS

KEYS = {
    **BASE_KEYS,
    "desk-key": ["Requests.Manage"],
    "staff-key": ["Provisioning.Operate", "Persons.Read"],
    "groups-key": ["Groups.Manage", "Persons.Read"],
    "flow-key": ["Requests.Submit"],
    "nobody-key": [],
}
CSRF = "test-csrf-token"


@pytest.fixture
def api_keys() -> dict[str, list[str]]:
    return KEYS


@pytest.fixture(scope="session")
def functions() -> dict[str, Any]:
    from tests.functions.conftest import fresh_app_functions

    return {f.get_function_name(): f.get_user_function() for f in fresh_app_functions()}


@pytest.fixture
def wiki(rt) -> Target:
    target = Target(id="wiki", name="Team wiki")
    TargetRepository(rt.store).save(target)
    return target


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


@pytest.fixture
def browser(functions, rt):
    """browser(key) → a Browser signed in with that key (None: not signed in)."""
    return lambda key="admin-key": Browser(functions, key, rt)


def html(response: func.HttpResponse) -> str:
    assert response.mimetype == "text/html", response.get_body()[:300]
    return response.get_body().decode()


def text(response: func.HttpResponse) -> str:
    """The page's visible text, tags stripped, whitespace collapsed."""
    body = html(response)
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def location(response: func.HttpResponse) -> str:
    assert response.status_code == 303, (response.status_code, response.get_body()[:500])
    return response.headers["Location"]
