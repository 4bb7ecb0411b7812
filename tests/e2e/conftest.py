"""Roster served by devhost over real HTTP, on a fresh data directory."""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from devhost.host import Host
from shared.bus.local import LocalBus
from shared.clock import TravelClock
from shared.config import Settings
from shared.runtime import Runtime, use_runtime
from shared.store import open_store

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "admin-key": ["Admin"],
    "hr-key": ["Persons.Write", "Persons.Read"],
    "reader-key": ["Persons.Read"],
    "groups-key": ["Groups.Manage", "Persons.Read"],
    "officer-key": ["Suspend.Manage"],
    "staff-key": ["Provisioning.Operate", "Persons.Read"],
}


@contextmanager
def running(tmp_path: Path, clock: TravelClock | None = None, timezone: str = "UTC"):
    """devhost on the real function_app; with a clock, the app and the queue pump share it."""
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())
    sample["Values"].update(ROSTER_API_KEYS=json.dumps(KEYS), ROSTER_TIMEZONE=timezone)
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps(sample))
    use_runtime(None)
    host = Host(
        "function_app:app", settings_path=settings, host_json=ROOT / "host.json",
        data_dir=tmp_path / "data", poll_interval=0.02, bus_options={"clock": clock} if clock else None,
    )
    url = host.start()
    if clock is not None:
        env = Settings.from_env()
        use_runtime(Runtime(env, clock=clock, store=open_store(env.store), bus=LocalBus(env.bus_path, clock=clock)))
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client, host
    finally:
        host.stop()
        use_runtime(None)


@pytest.fixture
def roster(tmp_path):
    """(client, host): an httpx client on a running devhost with the real function_app."""
    with running(tmp_path) as pair:
        yield pair


@pytest.fixture
def travel(tmp_path):
    """(client, host, clock): devhost in Europe/Brussels on a clock the test moves."""
    clock = TravelClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    with running(tmp_path, clock, "Europe/Brussels") as (client, host):
        yield client, host, clock


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
