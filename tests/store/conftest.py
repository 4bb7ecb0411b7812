"""Fixtures of the TableStore contract suite: one SQLite store and one Azurite store
(Azurite is started by tests/helpers/azurite.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from shared.store.azure_tables import AzureTablesStore
from shared.store.optimistic import OptimisticUnit
from shared.store.port import Table, TableStore
from shared.store.sqlite import SqliteStore
from tests.helpers.azurite import AzuriteUnavailable, azurite_tables


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """Connection string of an in-memory Azurite table emulator, started for the session."""
    try:
        with azurite_tables() as connection_string:
            yield connection_string
    except AzuriteUnavailable as unavailable:
        pytest.fail(str(unavailable))


ADAPTERS = ["sqlite", pytest.param("azurite", marks=pytest.mark.azurite)]


@pytest.fixture(params=ADAPTERS)
def store(request, tmp_path) -> Iterator[TableStore]:
    """Each adapter in turn."""
    yield from opened_store(request, tmp_path)


def opened_store(request, tmp_path) -> Iterator[TableStore]:
    """The store `request.param` names, closed after the test: "sqlite", "azurite", or
    "optimistic" (an OptimisticUnit over SQLite, never committed: shared/store/optimistic.py)."""
    if request.param == "azurite":
        opened: TableStore = AzureTablesStore(connection_string=request.getfixturevalue("azurite"))
    else:
        opened = SqliteStore(str(tmp_path / "store.db"))
    yield OptimisticUnit(opened) if request.param == "optimistic" else opened
    opened.close()


@pytest.fixture
def table(store) -> Table:
    """A fresh, empty table."""
    return store.table("t" + uuid.uuid4().hex[:12])
