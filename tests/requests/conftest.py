"""Fixtures of the request desk suites: the flow's and the desk's keys, staff and public URL
settings, a local HTTP endpoint that records, and devhost serving the desk
(helpers in tests/helpers/desk.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devhost.host import Host
from tests.helpers.desk import STAFF, Recorder, recording_endpoint
from tests.helpers.keys import DESK_KEYS
from tests.helpers.roster import running


@pytest.fixture
def api_keys() -> dict[str, list[str]]:
    return DESK_KEYS


@pytest.fixture
def extra_settings() -> dict[str, str]:
    return {"ROSTER_STAFF_EMAIL": STAFF, "ROSTER_PUBLIC_URL": "https://roster.example.edu/"}


@pytest.fixture
def endpoint() -> Iterator[Recorder]:
    with recording_endpoint() as recorder:
        yield recorder


@pytest.fixture
def desk(tmp_path, endpoint) -> Iterator[tuple[httpx.Client, Host, Recorder]]:
    """(client, host, teams): devhost with the real function_app, the request desk's keys and
    a Teams webhook pointing at a local recorder."""
    with running(
        tmp_path, keys=DESK_KEYS, ROSTER_STAFF_EMAIL=STAFF, ROSTER_PUBLIC_URL="https://roster.example.edu",
        ROSTER_TEAMS_WEBHOOK=f"{endpoint.url}/teams",
    ) as (client, host):
        yield client, host, endpoint
