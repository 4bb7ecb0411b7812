"""`TableStore.before_commit`: an action deferred to just before a unit of work commits, on
the adapter whose unit commits as one (SQLite) — the outbox relay writes a unit's marks so
(shared/services/relay.py). Outside a unit, and on Table Storage where each batch commits on
its own, nothing is deferred: the caller is told so and writes what must come first itself."""

from __future__ import annotations

import threading

import pytest

from shared.store import Entity
from shared.store.sqlite import SqliteStore


def test_outside_a_unit_nothing_is_deferred_and_the_action_does_not_run(store, table):
    ran = []
    assert store.before_commit(lambda: ran.append("mark")) is False
    assert ran == []


def test_a_unit_defers_the_action_only_where_it_commits_as_one(store, table):
    ran = []
    with store.unit_of_work():
        deferred = store.before_commit(lambda: ran.append("mark"))
    if isinstance(store, SqliteStore):
        assert deferred is True and ran == ["mark"]
    else:
        assert deferred is False and ran == []


@pytest.fixture
def sqlite_store(tmp_path):
    store = SqliteStore(str(tmp_path / "before.db"))
    yield store
    store.close()


def _seen_elsewhere(table, pk: str, rk: str):
    """The entity as another connection sees it."""
    seen = []
    reader = threading.Thread(target=lambda: seen.append(table.get(pk, rk)))
    reader.start()
    reader.join()
    return seen[0]


def test_a_deferred_action_runs_last_in_the_unit_and_its_write_commits_with_it(sqlite_store):
    table, order = sqlite_store.table("units"), []

    def mark():
        order.append("before")
        assert _seen_elsewhere(table, "p", "a") is None  # the unit has not committed yet
        table.insert(Entity("marks", "m", {"n": 0}))

    with sqlite_store.unit_of_work():
        assert sqlite_store.before_commit(mark) is True
        sqlite_store.after_commit(lambda: order.append("after"))
        table.insert(Entity("p", "a", {"n": 1}))
        order.append("block")
    assert order == ["block", "before", "after"]
    assert _seen_elsewhere(table, "marks", "m") is not None and _seen_elsewhere(table, "p", "a") is not None


def test_a_unit_left_by_an_exception_still_runs_its_deferred_action_and_commits_both(sqlite_store):
    table, ran = sqlite_store.table("units"), []
    with pytest.raises(RuntimeError), sqlite_store.unit_of_work():
        sqlite_store.before_commit(lambda: table.insert(Entity("marks", "m", {"n": 0})))
        sqlite_store.after_commit(lambda: ran.append("relay"))
        table.insert(Entity("p", "a", {"n": 1}))
        raise RuntimeError("the caller failed half-way")
    assert table.get("p", "a") is not None and table.get("marks", "m") is not None  # what was written stands, marked
    assert ran == []


def test_a_failing_deferred_action_rolls_the_whole_unit_back(sqlite_store):
    table, ran = sqlite_store.table("units"), []

    def refused():
        raise OSError("the mark could not be written")

    with pytest.raises(OSError), sqlite_store.unit_of_work():
        table.insert(Entity("p", "a", {"n": 1}))
        sqlite_store.before_commit(refused)
        sqlite_store.after_commit(lambda: ran.append("relay"))
    assert table.get("p", "a") is None and ran == []
    with sqlite_store.unit_of_work():  # the thread's next unit starts clean
        table.insert(Entity("p", "b", {"n": 2}))
    assert _seen_elsewhere(table, "p", "b") is not None
