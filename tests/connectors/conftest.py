"""Fixtures of the connector suite: an injected sleep that records (servers: tests/helpers/
servers.py; the receiver and scim2-server fixtures are the root conftest's)."""

from __future__ import annotations

import pytest

from tests.helpers.servers import Sleeps


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
