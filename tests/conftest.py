"""Fixtures every level of the suite shares: a runtime on the embedded defaults."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.bus.local import LocalBus
from shared.clock import TravelClock
from shared.config import Settings
from shared.runtime import Runtime, use_runtime
from shared.store.sqlite import SqliteStore

KEYS = {
    "admin-key": ["Admin"],
    "hr-key": ["Persons.Write", "Persons.Read"],
    "reader-key": ["Persons.Read"],
    "desk-key": ["Requests.Manage"],
}
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> TravelClock:
    return TravelClock(START)


@pytest.fixture
def api_keys() -> dict[str, list[str]]:
    """The keys a suite's callers hold; a suite's conftest may add its own."""
    return KEYS


@pytest.fixture
def extra_settings() -> dict[str, str]:
    """More settings for a suite (ROSTER_STAFF_EMAIL, …)."""
    return {}


@pytest.fixture
def settings(tmp_path, api_keys, extra_settings) -> Settings:
    return Settings.from_env(
        {
            "ROSTER_STORE": f"sqlite:///{tmp_path}/roster.db",
            "ROSTER_BUS_PATH": f"{tmp_path}/bus.db",
            "ROSTER_API_KEYS": json.dumps(api_keys),
            "ROSTER_TIMEZONE": "Europe/Brussels",
            "ROSTER_ALLOW_LOOPBACK": "true",  # the suites' receivers listen on 127.0.0.1
            **extra_settings,
        }
    )


@pytest.fixture
def rt(settings, clock, tmp_path):
    """A runtime on SQLite store and local bus, installed as the process runtime."""
    runtime = Runtime(
        settings,
        clock=clock,
        store=SqliteStore(f"{tmp_path}/roster.db"),
        bus=LocalBus(f"{tmp_path}/bus.db", clock=clock),
    )
    use_runtime(runtime)
    yield runtime
    use_runtime(None)
    runtime.close()
