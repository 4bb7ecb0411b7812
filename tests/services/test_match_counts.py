"""Name and registry counts (docs/matching.md): inside a store unit of work they are tallied
and each counter is written once after the commit; a read inside the unit sees the unit's own
changes, so the weights come out as if every count had been written at once."""

from __future__ import annotations

import pytest

from shared.faults import FaultPlan, FaultyStore, SimulatedCrash
from shared.matching.profile import profile_of
from shared.store.matchindex import MatchIndex
from shared.store.port import Entity


def profile(given: str, family: str):
    return profile_of(given=given, family=family, birth_date=None, emails=[], national_id_hash=None,
                      address=None, sources=["hr"])


def counts(store) -> dict[tuple[str, str], int]:
    table = store.table("matchcounts")
    return {(e.partition_key, e.row_key): e.properties["n"]
            for partition in ("given", "family", "persons") for e in table.query(partition)}


def test_a_unit_of_joiners_writes_each_counter_once_after_it_commits(rt):
    plan = FaultPlan()
    store = FaultyStore(rt.store, plan)
    index = MatchIndex(store)
    with store.unit_of_work():
        for n, family in enumerate(["Lovelace", "Hopper", "Lovelace"]):
            index.file(f"{n}abc", None, profile("Ada", family))
        assert index.frequency("given", "ada") == 3  # the unit's own joiners, not yet written
        assert index.frequency("family", "lovelace") == 2
        assert not [s for s in plan.seen if "matchcounts" in s]
    assert counts(rt.store) == {("given", "ada"): 3, ("family", "lovelace"): 2, ("family", "hopper"): 1,
                                ("persons", "0"): 3}
    assert len([s for s in plan.seen if "matchcounts" in s]) == 4  # one write a counter
    assert MatchIndex(rt.store).registry_size() == 3


def test_outside_a_unit_a_count_is_written_at_once(rt):
    index = MatchIndex(rt.store)
    index.file("0abc", None, profile("Ada", "Lovelace"))
    assert counts(rt.store) == {("given", "ada"): 1, ("family", "lovelace"): 1, ("persons", "0"): 1}
    index.file("0abc", profile("Ada", "Lovelace"), profile("Ada", "King"))
    assert counts(rt.store)[("family", "lovelace")] == 0 and counts(rt.store)[("family", "king")] == 1


def test_a_leaver_counted_from_another_shard_keeps_the_registry_size_right(rt):
    index = MatchIndex(rt.store)
    with rt.store.unit_of_work():
        index.file("1abc", None, profile("Ada", "Lovelace"))
        index.file("2abc", None, profile("Grace", "Hopper"))  # counted in the unit's shard, "1"
    index.file("2abc", profile("Grace", "Hopper"), None)
    assert index.registry_size() == 1
    assert counts(rt.store)[("family", "hopper")] == 0


def test_counts_a_unit_left_by_a_crash_never_wrote_are_written_by_the_next_flush(rt):
    index = MatchIndex(rt.store)
    with pytest.raises(SimulatedCrash), rt.store.unit_of_work():
        index.file("0abc", None, profile("Ada", "Lovelace"))
        raise SimulatedCrash("the unit never reached its after-commit actions")
    assert counts(rt.store) == {}
    index.file("1abc", None, profile("Grace", "Hopper"))
    names = {key: n for key, n in counts(rt.store).items() if key[0] != "persons"}
    assert names == {("given", "ada"): 1, ("family", "lovelace"): 1, ("given", "grace"): 1, ("family", "hopper"): 1}
    assert index.registry_size() == 2


def test_a_counter_another_writer_changed_meanwhile_is_added_to_not_overwritten(rt):
    index = MatchIndex(rt.store)
    index.file("0abc", None, profile("Ada", "Lovelace"))
    with rt.store.unit_of_work():
        assert index.frequency("family", "lovelace") == 1
        index.file("1abc", None, profile("Ada", "Lovelace"))
        table = rt.store.table("matchcounts")  # another writer, after the read (as on Table Storage)
        table.replace(Entity("family", "lovelace", {"n": 5}), None)
    assert counts(rt.store)[("family", "lovelace")] == 6
    assert counts(rt.store)[("given", "ada")] == 2
