"""The store's unit of work: on both adapters the contract's promises hold inside one
(a refused batch rolls back only itself, what was written stands, after-commit actions run
once it is durable); on SQLite the unit is one transaction another connection sees whole."""

from __future__ import annotations

import threading

import pytest

from shared.store import BatchFailed, Entity, Op
from shared.store.sqlite import SqliteStore


def _read_elsewhere(table, pk: str, rk: str):
    """The entity as another thread (another connection) sees it."""
    seen = []
    reader = threading.Thread(target=lambda: seen.append(table.get(pk, rk)))
    reader.start()
    reader.join()
    return seen[0]


def test_writes_in_a_unit_are_read_back_inside_it_and_kept_after(store, table):
    with store.unit_of_work():
        table.insert(Entity("p", "a", {"n": 1}))
        table.batch("p", [Op("upsert", Entity("p", "b", {"n": 2}))])
        assert table.get("p", "a").properties["n"] == 1
    assert [e.row_key for e in table.query("p")] == ["a", "b"]


def test_a_refused_batch_in_a_unit_rolls_back_only_itself(store, table):
    first = table.insert(Entity("p", "a", {"n": 1}))
    with store.unit_of_work():
        table.upsert(Entity("p", "kept", {"n": 0}))
        table.replace(Entity("p", "a", {"n": 2}), first.etag)
        with pytest.raises(BatchFailed):
            table.batch("p", [Op("insert", Entity("p", "new", {"n": 3})),
                              Op("replace", Entity("p", "a", {"n": 4}), first.etag)])  # stale etag
    assert table.get("p", "new") is None
    assert table.get("p", "a").properties["n"] == 2
    assert table.get("p", "kept") is not None


def test_leaving_a_unit_by_an_exception_keeps_what_was_written(store, table):
    with pytest.raises(RuntimeError), store.unit_of_work():
        table.insert(Entity("p", "a", {"n": 1}))
        raise RuntimeError("the caller failed half-way")
    assert table.get("p", "a") is not None


def test_after_commit_outside_a_unit_runs_at_once(store, table):
    ran = []
    store.after_commit(lambda: ran.append(True))
    assert ran == [True]


def test_after_commit_runs_when_the_unit_is_durable_and_sees_its_writes(store, table):
    seen = []
    with store.unit_of_work():
        table.insert(Entity("p", "a", {"n": 1}))
        store.after_commit(lambda: seen.append(_read_elsewhere(table, "p", "a")))
        with store.unit_of_work():  # nested: joins the outer unit
            table.insert(Entity("p", "b", {"n": 2}))
    assert seen and seen[0] is not None
    assert _read_elsewhere(table, "p", "b") is not None


@pytest.fixture
def sqlite_store(tmp_path):
    """The SQLite adapter alone: what only it promises (one transaction, actions after it)."""
    store = SqliteStore(str(tmp_path / "unit.db"))
    yield store
    store.close()


def test_a_sqlite_unit_is_one_transaction_unseen_elsewhere_until_it_commits(sqlite_store):
    table = sqlite_store.table("units")
    with sqlite_store.unit_of_work():
        table.insert(Entity("p", "a", {"n": 1}))
        table.batch("q", [Op("insert", Entity("q", "b", {"n": 2}))])
        assert _read_elsewhere(table, "p", "a") is None
        assert _read_elsewhere(table, "q", "b") is None
    assert _read_elsewhere(table, "p", "a") is not None
    assert _read_elsewhere(table, "q", "b") is not None


def test_a_sqlite_unit_left_by_an_exception_runs_no_action(sqlite_store):
    table, ran = sqlite_store.table("units"), []
    with pytest.raises(RuntimeError), sqlite_store.unit_of_work():
        table.insert(Entity("p", "a", {"n": 1}))
        sqlite_store.after_commit(lambda: ran.append("relay"))
        raise RuntimeError("the caller failed half-way")
    assert ran == [] and table.get("p", "a") is not None


def test_actions_run_after_a_sqlite_unit_write_in_a_unit_of_their_own(sqlite_store):
    table = sqlite_store.table("units")
    with sqlite_store.unit_of_work():
        table.insert(Entity("p", "a", {"n": 1}))
        sqlite_store.after_commit(lambda: table.delete("p", "a"))
        sqlite_store.after_commit(lambda: table.insert(Entity("p", "b", {"n": 2})))
    assert table.get("p", "a") is None and table.get("p", "b") is not None
