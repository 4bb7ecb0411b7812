"""The optimistic unit of work (shared/store/optimistic.py): computed without the write lock,
committed only if every read it made still answers the same — else Conflict, nothing written."""

from __future__ import annotations

import threading
from contextlib import closing

import pytest

from shared.store import BatchFailed, Entity, EntityExists, Op
from shared.store.optimistic import Conflict, OptimisticUnit
from shared.store.port import StoreError
from shared.store.sqlite import SqliteStore, SqliteTable


@pytest.fixture
def store(tmp_path):
    with closing(SqliteStore(str(tmp_path / "occ.db"))) as opened:
        yield opened


def _elsewhere(store: SqliteStore, action):
    """`action()` on another thread: another connection, as another worker would."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(action()))
    thread.start()
    thread.join()
    return result[0] if result else None


def _dump(store: SqliteStore, name: str, partition: str) -> list[tuple[str, dict, str]]:
    return [(e.row_key, e.properties, e.etag) for e in store.table(name).query(partition)]


def test_commit_makes_exactly_the_buffered_rows_visible_with_the_etags_returned(store):
    real = store.table("people")
    kept = real.insert(Entity("p", "kept", {"v": 0}))
    real.insert(Entity("p", "doomed", {"v": 0}))
    unit = OptimisticUnit(store)
    view = unit.table("people")
    inserted = view.insert(Entity("p", "new", {"v": 1}))
    replaced = view.replace(Entity("p", "kept", {"v": 2}), kept.etag)
    view.delete("p", "doomed")
    batched = view.batch("q", [Op("insert", Entity("q", "a", {"v": 3})), Op("upsert", Entity("q", "b", {"v": 4}))])
    assert _elsewhere(store, lambda: _dump(store, "people", "p")) == [
        ("doomed", {"v": 0}, real.get("p", "doomed").etag),
        ("kept", {"v": 0}, kept.etag),
    ], "nothing is visible before the commit"

    unit.commit()

    assert _elsewhere(store, lambda: _dump(store, "people", "p")) == [
        ("kept", {"v": 2}, replaced.etag),
        ("new", {"v": 1}, inserted.etag),
    ]
    assert _dump(store, "people", "q") == [("a", {"v": 3}, batched[0].etag), ("b", {"v": 4}, batched[1].etag)]
    real.replace(Entity("p", "new", {"v": 5}), inserted.etag)  # the etag returned is the one stored
    with pytest.raises(StoreError):
        unit.commit()


def test_reads_see_the_units_own_writes_and_queries_merge_them_in_row_key_order(store):
    real = store.table("people")
    for rk in ("a", "c", "e"):
        real.insert(Entity("p", rk, {"rk": rk}))
    view = OptimisticUnit(store).table("people")
    view.insert(Entity("p", "b", {"rk": "b"}))
    view.delete("p", "c")
    view.upsert(Entity("p", "e", {"rk": "E"}))
    assert [e.row_key for e in view.query("p")] == ["a", "b", "e"]
    assert [e.row_key for e in view.query("p", limit=2)] == ["a", "b"]
    assert [e.row_key for e in view.query("p", start="b", end="e")] == ["b"]
    assert [e.row_key for e in view.query("p", equals={"rk": "E"})] == ["e"]
    assert view.get("p", "c") is None and real.get("p", "c") is not None


def test_a_concurrent_write_to_a_key_the_unit_read_is_a_conflict_and_nothing_is_written(store):
    real = store.table("people")
    real.insert(Entity("p", "read", {"v": 0}))
    unit = OptimisticUnit(store)
    view = unit.table("people")
    seen = view.get("p", "read")
    view.insert(Entity("p", "derived", {"from": seen.properties["v"]}))
    _elsewhere(store, lambda: real.upsert(Entity("p", "read", {"v": 1})))

    with pytest.raises(Conflict):
        unit.commit()

    assert real.get("p", "derived") is None


def test_a_key_read_as_absent_and_then_inserted_elsewhere_is_a_conflict(store):
    unit = OptimisticUnit(store)
    unit.table("people").insert(Entity("p", "owner", {"by": "unit"}))
    _elsewhere(store, lambda: store.table("people").insert(Entity("p", "owner", {"by": "other"})))
    with pytest.raises(Conflict):
        unit.commit()
    assert store.table("people").get("p", "owner").properties == {"by": "other"}


def test_a_concurrent_insert_into_a_range_the_unit_queried_is_a_conflict(store):
    real = store.table("people")
    real.insert(Entity("p", "a1", {}))
    unit = OptimisticUnit(store)
    view = unit.table("people")
    assert [e.row_key for e in view.query("p", prefix="a")] == ["a1"]
    view.upsert(Entity("other", "x", {"count": 1}))
    _elsewhere(store, lambda: real.insert(Entity("p", "a2", {})))
    with pytest.raises(Conflict):
        unit.commit()
    assert real.get("other", "x") is None


def test_a_concurrent_write_to_an_unrelated_key_or_an_unvalidated_table_commits(store):
    real, counts = store.table("people"), store.table("matchcounts")
    real.insert(Entity("p", "mine", {"v": 0}))
    counts.insert(Entity("given", "ada", {"n": 1}))
    unit = OptimisticUnit(store)
    view = unit.table("people")
    view.replace(Entity("p", "mine", {"v": 1}), view.get("p", "mine").etag)
    assert unit.table("matchcounts").get("given", "ada").properties == {"n": 1}
    _elsewhere(store, lambda: (real.insert(Entity("p", "theirs", {})), real.insert(Entity("q", "x", {})),
                               counts.upsert(Entity("given", "ada", {"n": 2}))))
    unit.commit()
    assert real.get("p", "mine").properties == {"v": 1} and real.get("p", "theirs") is not None


def test_a_failing_before_commit_action_leaves_nothing_written(store):
    def refused():
        raise OSError("the mark could not be written")

    unit, ran = OptimisticUnit(store), []
    unit.table("people").insert(Entity("p", "a", {}))
    assert unit.before_commit(refused) is True
    unit.after_commit(lambda: ran.append("after"))
    with pytest.raises(OSError):
        unit.commit()
    assert store.table("people").get("p", "a") is None and ran == []


def test_before_commit_actions_write_in_the_real_transaction_and_after_commit_actions_run_after(store):
    unit, order = OptimisticUnit(store), []
    real = store.table("people")

    def mark():
        order.append("before")
        assert _elsewhere(store, lambda: real.get("p", "a")) is None  # not committed yet
        unit.table("marks").insert(Entity("m", "1", {}))  # through the unit: passes through now

    unit.table("people").insert(Entity("p", "a", {}))
    unit.before_commit(mark)
    unit.after_commit(lambda: order.append(("after", _elsewhere(store, lambda: real.get("p", "a")) is not None)))
    assert order == []
    unit.commit()
    assert order == ["before", ("after", True)]
    assert store.table("marks").get("m", "1") is not None


def test_after_commit_actions_do_not_run_on_conflict_nor_with_run_after_false(store):
    real, ran = store.table("people"), []
    real.insert(Entity("p", "read", {}))
    conflicted = OptimisticUnit(store)
    conflicted.table("people").get("p", "read")
    conflicted.after_commit(lambda: ran.append("conflicted"))
    conflicted.before_commit(lambda: ran.append("conflicted before"))
    _elsewhere(store, lambda: real.upsert(Entity("p", "read", {"v": 1})))
    with pytest.raises(Conflict):
        conflicted.commit()
    quiet = OptimisticUnit(store)
    quiet.table("people").insert(Entity("p", "quiet", {}))
    quiet.after_commit(lambda: ran.append("quiet"))
    quiet.commit(run_after=False)
    assert ran == [] and real.get("p", "quiet") is not None


def test_a_refused_batch_leaves_the_overlay_unchanged_and_its_reads_recorded(store):
    real = store.table("people")
    real.insert(Entity("p", "taken", {}))
    unit = OptimisticUnit(store)
    view = unit.table("people")
    with pytest.raises(BatchFailed) as failure:
        view.batch("p", [Op("upsert", Entity("p", "x", {})), Op("replace", Entity("p", "gone", {}), "*")])
    assert failure.value.index == 1
    assert view.get("p", "x") is None
    real.insert(Entity("p", "gone", {}))  # what the refusal read (absence) changed: a conflict
    with pytest.raises(Conflict):
        unit.commit()
    assert [e.row_key for e in real.query("p")] == ["gone", "taken"]


@pytest.mark.parametrize("write", ["insert", "batch"])
def test_an_insert_of_a_key_the_unit_never_read_is_checked_when_it_commits(store, write):
    """No read while computing: the key is recorded as absent, so a key that exists — or
    appears before the commit — is a conflict (the chunk is then redone under the lock, where
    the store refuses the insert as the port says); once read, the insert is refused at once."""
    real = store.table("people")
    real.insert(Entity("p", "taken", {"v": 1}))
    unit = OptimisticUnit(store)
    view = unit.table("people")
    insert = (view.insert if write == "insert"
              else lambda entity: view.batch("p", [Op("insert", entity)]))
    insert(Entity("p", "taken", {"v": 2}))
    insert(Entity("p", "fresh", {}))
    assert view.get("p", "taken").properties == {"v": 2}  # the unit sees its own write
    with pytest.raises(Conflict, match="taken"):
        unit.commit()
    assert [(e.row_key, e.properties) for e in real.query("p")] == [("taken", {"v": 1})]
    known = OptimisticUnit(store).table("people")
    assert known.get("p", "taken") is not None
    with pytest.raises(EntityExists):
        known.insert(Entity("p", "taken", {}))


def test_a_write_refused_half_way_through_the_commit_leaves_nothing_of_the_unit(store, monkeypatch):
    restore, calls = SqliteTable.restore, []

    def second_refused(self, rows, gone):
        calls.append(self.name)
        if len(calls) == 2:
            raise StoreError("sqlite: database or disk is full")
        restore(self, rows, gone)

    unit = OptimisticUnit(store)
    unit.table("people").insert(Entity("p", "a", {}))
    unit.table("orders").insert(Entity("o", "b", {}))
    monkeypatch.setattr(SqliteTable, "restore", second_refused)
    with pytest.raises(StoreError, match="disk is full"):
        unit.commit()
    assert calls == ["people", "orders"]
    assert store.table("people").get("p", "a") is None and store.table("orders").get("o", "b") is None
    with pytest.raises(StoreError, match="commits once"):
        unit.commit()


def test_a_table_asked_by_names_differing_in_case_is_one_overlay(store):
    unit = OptimisticUnit(store)
    unit.table("People").insert(Entity("p", "a", {}))
    with pytest.raises(EntityExists):
        unit.table("people").insert(Entity("p", "a", {}))
    unit.commit()
    assert [e.row_key for e in store.table("people").query("p")] == ["a"]


@pytest.mark.parametrize(("failing", "durable"), [("after_commit", True), ("before_commit", False)])
def test_a_commit_is_durable_once_the_real_commit_happened_whatever_fails_after(store, failing, durable):
    """An after-commit action that fails leaves the unit written and durable (not spent: it
    must not be redone); a before-commit action that fails writes nothing."""
    unit = OptimisticUnit(store)
    unit.table("people").insert(Entity("p", "r1", {"v": 1}))
    getattr(unit, failing)(lambda: (_ for _ in ()).throw(StoreError("it failed")))

    with pytest.raises(StoreError, match="it failed"):
        unit.commit()

    assert unit.durable is durable and (unit.state == "spent") is not durable
    assert (store.table("people").get("p", "r1") is not None) is durable


@pytest.mark.parametrize("write", [
    lambda t: t.insert(Entity("given", "ann", {"n": 1})),
    lambda t: t.upsert(Entity("given", "ann", {"n": 1})),
    lambda t: t.delete("given", "ann"),
    lambda t: t.batch("given", [Op("upsert", Entity("given", "ann", {"n": 1}))]),
])
def test_a_statistics_table_is_read_but_never_written_inside_an_open_unit(store, write):
    """Its reads are not re-checked at commit, so a write resting on them could lose another
    writer's count: the matcher writes its counts after the commit, through to the store."""
    unit = OptimisticUnit(store)

    with pytest.raises(StoreError, match="not written inside an optimistic unit"):
        write(unit.table("matchcounts"))

    unit.commit()
    assert store.table("matchcounts").get("given", "ann") is None


def test_a_key_the_unit_saw_absent_and_then_present_cannot_commit_even_if_it_is_gone_again(store):
    """An insert recorded the key as absent without reading it; the batch was refused later on,
    so the insert left nothing — then a read found the key there. The computation has seen it
    both ways: a conflict, even when a concurrent delete makes the first record true again."""
    real = store.table("people")
    real.insert(Entity("p", "k", {"v": 1}))
    real.insert(Entity("p", "s", {}))
    unit = OptimisticUnit(store)
    view = unit.table("people")
    with pytest.raises(BatchFailed):
        view.batch("p", [Op("insert", Entity("p", "k", {})), Op("replace", Entity("p", "s", {}), "stale")])
    assert view.get("p", "k") is not None
    real.delete("p", "k")
    with pytest.raises(Conflict, match="while computing"):
        unit.commit()
