"""`TableStore.before_commit`: an action deferred to just before a unit of work commits, on
the adapter whose unit commits as one (SQLite) — the outbox relay writes a unit's marks so
(shared/services/relay.py). Outside a unit, and on Table Storage where each batch commits on
its own, nothing is deferred: the caller is told so and writes what must come first itself."""

from __future__ import annotations

from contextlib import closing

import pytest

from shared.store import Entity
from shared.store.sqlite import SqliteStore
from tests.store.test_unit_of_work import _read_elsewhere


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


def test_a_deferred_action_runs_last_in_the_unit_and_its_write_commits_with_it(tmp_path):
    with closing(SqliteStore(str(tmp_path / "before.db"))) as store:
        table, order = store.table("units"), []

        def mark():
            order.append("before")
            assert _read_elsewhere(table, "p", "a") is None  # the unit has not committed yet
            table.insert(Entity("marks", "m", {"n": 0}))

        with store.unit_of_work():
            assert store.before_commit(mark) is True
            store.after_commit(lambda: order.append("after"))
            table.insert(Entity("p", "a", {"n": 1}))
            order.append("block")
        assert order == ["block", "before", "after"]
        assert _read_elsewhere(table, "marks", "m") is not None and _read_elsewhere(table, "p", "a") is not None


def test_a_unit_left_by_an_exception_still_runs_its_deferred_action_and_commits_both(tmp_path):
    with closing(SqliteStore(str(tmp_path / "before.db"))) as store:
        table, ran = store.table("units"), []
        with pytest.raises(RuntimeError), store.unit_of_work():
            store.before_commit(lambda: table.insert(Entity("marks", "m", {"n": 0})))
            store.after_commit(lambda: ran.append("relay"))
            table.insert(Entity("p", "a", {"n": 1}))
            raise RuntimeError("the caller failed half-way")
        assert table.get("p", "a") is not None and table.get("marks", "m") is not None  # what was written stands, marked
        assert ran == []


def test_a_failing_deferred_action_rolls_the_whole_unit_back(tmp_path):
    def refused():
        raise OSError("the mark could not be written")

    with closing(SqliteStore(str(tmp_path / "before.db"))) as store:
        table, ran = store.table("units"), []
        with pytest.raises(OSError), store.unit_of_work():
            table.insert(Entity("p", "a", {"n": 1}))
            store.before_commit(refused)
            store.after_commit(lambda: ran.append("relay"))
        assert table.get("p", "a") is None and ran == []
        with store.unit_of_work():  # the thread's next unit starts clean
            table.insert(Entity("p", "b", {"n": 2}))
        assert _read_elsewhere(table, "p", "b") is not None
