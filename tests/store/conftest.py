"""Fixtures of the TableStore contract suite: one SQLite store and one Azurite store
(Azurite is started by tests/helpers/azurite.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from shared.store.port import Table, TableStore
from tests.helpers.azurite import AzuriteUnavailable, azurite_tables
from tests.helpers.stores import ADAPTERS, opened_store


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """Connection string of an in-memory Azurite table emulator, started for the session."""
    try:
        with azurite_tables() as connection_string:
            yield connection_string
    except AzuriteUnavailable as unavailable:
        pytest.fail(str(unavailable))


@pytest.fixture(params=ADAPTERS)
def store(request, tmp_path) -> Iterator[TableStore]:
    """Each adapter in turn."""
    yield from opened_store(request, tmp_path)


@pytest.fixture
def table(store) -> Table:
    """A fresh, empty table."""
    return store.table("t" + uuid.uuid4().hex[:12])
