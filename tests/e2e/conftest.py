"""Fixtures of the end-to-end suite: Roster served by devhost over real HTTP, on a fresh data
directory (tests/helpers/roster.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.clock import TravelClock
from tests.helpers.roster import running


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
