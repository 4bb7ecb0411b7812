"""Roster on devhost for the SCIM doors' tests (a plain module: no conftest imports)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.roster import running

KEYS = {
    "admin-key": ["Admin"],
    "hr-key": ["Persons.Write", "Persons.Read"],
    "reader-key": ["Persons.Read"],
    "staff-key": ["Provisioning.Operate", "Persons.Read"],
    "groups-key": ["Groups.Manage", "Persons.Read"],
}
SCIM_JSON = "application/scim+json"


@contextmanager
def devhost(tmp_path: Path, **values: str):
    """devhost serving the real function_app on a fresh data directory; `values` override settings."""
    with running(tmp_path, keys=KEYS, timeout=60, **values) as pair:
        yield pair


def auth(key: str, content_type: str | None = SCIM_JSON) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def send(client: httpx.Client, method: str, path: str, key: str = "hr-key", body: Any = None, **headers: str):
    extra = {k.replace("_", "-"): v for k, v in headers.items()}
    content = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    return client.request(method, path, content=content, headers={**auth(key), **extra})
