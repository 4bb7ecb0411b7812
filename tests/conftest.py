"""Fixtures every level of the suite shares: a runtime on the embedded defaults, the app's
functions, a manual target, and the real servers connectors talk to.

Fixtures only: helpers tests call by name live in plain modules (tests/factories.py,
tests/helpers/); nothing imports a conftest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.bus.local import LocalBus
from shared.clock import TravelClock
from shared.config import Settings
from shared.models.provisioning import Target
from shared.runtime import Runtime, use_runtime
from shared.store.sqlite import SqliteStore
from shared.store.targets import TargetRepository
from tests.helpers.app import user_functions
from tests.helpers.console import Browser
from tests.helpers.keys import KEYS
from tests.helpers.servers import (
    SCIM_TOKEN,
    SCIM_TOKEN_ENV,
    Receiver,
    ScimServer,
    serve_receiver,
    start_scim_server,
)

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


@pytest.fixture(scope="session")
def functions() -> dict[str, Any]:
    """Name → user function of the real app."""
    return user_functions()


@pytest.fixture
def browser(functions, rt):
    """browser(key) → a Browser calling the console's functions signed in with that key
    (None: not signed in)."""
    return lambda key="admin-key": Browser(functions, key, rt)


@pytest.fixture
def wiki(rt) -> Target:
    """The service clients ask about (a manual target)."""
    target = Target(id="wiki", name="Team wiki")
    TargetRepository(rt.store).save(target)
    return target


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 answering as scripted."""
    with serve_receiver() as state:
        yield state


@pytest.fixture
def scim_server(monkeypatch) -> Iterator[ScimServer]:
    """A real scim2-server on 127.0.0.1; its bearer token in the environment."""
    monkeypatch.setenv(SCIM_TOKEN_ENV, SCIM_TOKEN)
    server = start_scim_server()
    yield server
    server.stop()


@pytest.fixture
def scim_server_without_patch(monkeypatch) -> Iterator[ScimServer]:
    """scim2-server announcing no PATCH support."""
    monkeypatch.setenv(SCIM_TOKEN_ENV, SCIM_TOKEN)
    server = start_scim_server(patch=False)
    yield server
    server.stop()
