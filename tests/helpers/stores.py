"""The stores the TableStore contract suite runs against (tests/store/conftest.py,
tests/store/test_contract.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.store.azure_tables import AzureTablesStore
from shared.store.optimistic import OptimisticUnit
from shared.store.port import TableStore
from shared.store.sqlite import SqliteStore

ADAPTERS = ["sqlite", pytest.param("azurite", marks=pytest.mark.azurite)]


def opened_store(request, tmp_path) -> Iterator[TableStore]:
    """The store `request.param` names, closed after the test: "sqlite", "azurite" (the
    session's emulator: the `azurite` fixture), or "optimistic" (an OptimisticUnit over
    SQLite, never committed: shared/store/optimistic.py)."""
    if request.param == "azurite":
        opened: TableStore = AzureTablesStore(connection_string=request.getfixturevalue("azurite"))
    else:
        opened = SqliteStore(str(tmp_path / "store.db"))
    yield OptimisticUnit(opened) if request.param == "optimistic" else opened
    opened.close()
