"""Roster served by devhost over real HTTP, on a fresh data directory."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from devhost.host import Host
from shared.runtime import use_runtime

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"admin-key": ["Admin"], "hr-key": ["Persons.Write", "Persons.Read"], "reader-key": ["Persons.Read"]}


@pytest.fixture
def roster(tmp_path):
    """(client, host): an httpx client on a running devhost with the real function_app."""
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())
    sample["Values"]["ROSTER_API_KEYS"] = json.dumps(KEYS)
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps(sample))
    use_runtime(None)
    host = Host(
        "function_app:app", settings_path=settings, host_json=ROOT / "host.json",
        data_dir=tmp_path / "data", poll_interval=0.02,
    )
    url = host.start()
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client, host
    finally:
        host.stop()
        use_runtime(None)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
