"""Roster on devhost for the SCIM doors' tests (a plain module: no conftest imports)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from devhost.host import Host
from shared.runtime import use_runtime

ROOT = Path(__file__).resolve().parents[2]
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
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())
    sample["Values"].update(ROSTER_API_KEYS=json.dumps(KEYS), **values)
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps(sample))
    use_runtime(None)
    host = Host("function_app:app", settings_path=settings, host_json=ROOT / "host.json",
                data_dir=tmp_path / "data", poll_interval=0.02)
    url = host.start()
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            yield client, host
    finally:
        host.stop()
        use_runtime(None)


def auth(key: str, content_type: str | None = SCIM_JSON) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def send(client: httpx.Client, method: str, path: str, key: str = "hr-key", body: Any = None, **headers: str):
    extra = {k.replace("_", "-"): v for k, v in headers.items()}
    content = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    return client.request(method, path, content=content, headers={**auth(key), **extra})
