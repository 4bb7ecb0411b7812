"""Fixtures of the devhost suite: a devhost running the sample app (tests/devhost/hosts.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost import Host
from tests.devhost.hosts import make_host


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    """A started host whose bus dead-letters after three deliveries."""
    h = make_host(tmp_path, bus_options={"max_delivery_count": 3})
    h.start()
    yield h
    h.stop()


@pytest.fixture(scope="module")
def http_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    h = make_host(tmp_path_factory.mktemp("devhost-http"))
    h.start()
    yield h
    h.stop()
