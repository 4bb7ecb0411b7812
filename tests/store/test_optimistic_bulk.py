"""The bulk load's chunk computed in an OptimisticUnit and committed leaves what the classic
chunk (one unit of work under the write lock) leaves: same persons, memberships, orders,
outbox, audit, relay marks and messages (tests/chain/test_bulk.py's equivalence)."""

from __future__ import annotations

import dataclasses
from contextlib import closing

import pytest

from shared.clock import TravelClock
from shared.services import bulk, matching
from shared.store import Entity
from shared.store.matchindex import MatchIndex
from shared.store.optimistic import Conflict, OptimisticUnit
from shared.store.sqlite import SqliteStore
from tests.chain.harness import Roster, copy_data
from tests.chain.test_bulk import KEYS, LOAD, a_mix, base, hook, record  # noqa: F401 (fixtures)
from tests.helpers.snapshot import snapshot


def optimistic_chunk(roster: Roster, chunk: list, actor: str = "hr-system") -> list[bulk.RecordResult]:
    """`bulk._applied` computed in an OptimisticUnit, then committed (as the pool does)."""
    view = OptimisticUnit(roster.rt.store)
    results = bulk._applied(dataclasses.replace(roster.rt, store=view), chunk, actor)
    view.commit()
    return results


def _outcomes(results: list[bulk.RecordResult]) -> list[tuple]:
    return [(r.source_id, r.outcome, r.person_id is not None, r.errors) for r in results]


@pytest.mark.parametrize("size", [bulk.CHUNK, 4])
def test_a_chunk_through_the_optimistic_unit_leaves_what_the_classic_chunk_leaves(base, tmp_path, size):  # noqa: F811
    records = list(enumerate(a_mix()))
    classic = Roster(copy_data(base, tmp_path / "classic"), TravelClock(LOAD))
    expected = [r for start in range(0, len(records), size)
                for r in bulk._applied(classic.rt, records[start:start + size], "hr-system")]
    optimistic = Roster(copy_data(base, tmp_path / "optimistic"), TravelClock(LOAD))
    got = [r for start in range(0, len(records), size)
           for r in optimistic_chunk(optimistic, records[start:start + size])]

    assert _outcomes(got) == _outcomes(expected)
    assert snapshot(optimistic.rt, KEYS) == snapshot(classic.rt, KEYS)
    classic.close()
    optimistic.close()


def test_a_chunk_whose_person_changed_meanwhile_conflicts_and_the_classic_redo_equals_the_serial_load(
        base, tmp_path):  # noqa: F811
    first = [(0, record("E5", "2026-11-02T08:00:00+00:00", end="2026-11-01"))]
    later = [(1, record("E5", "2026-11-02T08:30:00+00:00", organization="ENG"))]
    serial = Roster(copy_data(base, tmp_path / "serial"), TravelClock(LOAD))
    expected = _outcomes(bulk._applied(serial.rt, first, "hr-system") + bulk._applied(serial.rt, later, "hr-system"))

    roster = Roster(copy_data(base, tmp_path / "raced"), TravelClock(LOAD))
    view = OptimisticUnit(roster.rt.store)
    bulk._applied(dataclasses.replace(roster.rt, store=view), later, "hr-system")  # computed first ...
    got = bulk._applied(roster.rt, first, "hr-system")  # ... while the earlier chunk commits
    with pytest.raises(Conflict):
        view.commit()
    got += bulk._applied(roster.rt, later, "hr-system")  # the redo, the classic way

    assert _outcomes(got) == expected == [("E5", "updated", True, []), ("E5", "updated", True, [])]
    assert snapshot(roster.rt, KEYS) == snapshot(serial.rt, KEYS)
    serial.close()
    roster.close()


def test_the_matchers_table_caches_outlive_an_optimistic_unit(tmp_path):
    """A block found too common is skipped by later units too (not re-read by every chunk,
    where a concurrent chunk's joiner in it would be a Conflict), and the registry size is
    read once per REGISTRY_TTL, not once per unit."""
    with closing(SqliteStore(str(tmp_path / "match.db"))) as store:
        first, later = MatchIndex(OptimisticUnit(store)), MatchIndex(OptimisticUnit(store))
        matching._heavy.remember(first, "n:FANALY|g")
        assert matching._heavy.known(later, "n:FANALY|g")
        assert matching._heavy.known(MatchIndex(store), "n:FANALY|g")
        size = matching._registry_size(first)
        store.table("matchcounts").upsert(Entity("persons", "0", {"n": size + 5}))
        assert matching._registry_size(later) == size
