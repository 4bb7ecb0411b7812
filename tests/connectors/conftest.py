"""Fixtures of the connector suite: an injected sleep that records (servers: tests/helpers/
servers.py; the receiver and scim2-server fixtures are the root conftest's)."""

from __future__ import annotations

import pytest

from tests.helpers.servers import Sleeps


@pytest.fixture(autouse=True)
def loopback_allowed(monkeypatch):
    """The receivers listen on 127.0.0.1: the development setting lets Roster reach them."""
    monkeypatch.setenv("ROSTER_ALLOW_LOOPBACK", "true")


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
