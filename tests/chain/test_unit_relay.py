"""The relay of a unit of work that commits as one (docs/architecture.md §10): its writers share
one mark, written in the unit just before it commits, and one `publish_many` once it has
committed; a bus that refuses leaves that mark naming every place to the timer; a crash
while the mark is written takes the unit's batches with it (nothing is stored unmarked)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from shared.bus.port import BusError
from shared.faults import FaultPlan, FaultyStore, SimulatedCrash
from shared.services.relay import (
    SETTLE_AFTER,
    committed_with,
    outbox_backlog,
    relay_partition,
    relay_stale,
)
from shared.store.outbox import OutboxRepository, Outgoing
from shared.store.port import BatchFailed, Entity, ETagMismatch, Op

PLACES = ["p0", "p1", "p2"]


class CountingBus:
    """The runtime's bus, counting the calls the relay makes (or refusing them all)."""

    def __init__(self, inner, refuse: bool = False):
        self.inner, self.refuse, self.calls = inner, refuse, []

    def publish(self, *args, **kwargs):
        self.calls.append("publish")
        if self.refuse:
            raise BusError("the namespace is unreachable")
        self.inner.publish(*args, **kwargs)

    def publish_many(self, messages):
        self.calls.append(f"publish_many({len(messages)})")
        if self.refuse:
            raise BusError("the namespace is unreachable")
        self.inner.publish_many(messages)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def write_state(rt, partition: str, n: int = 1, etag: str | None = None):
    """A writer: its state row and its message in one batch of `partition` (with `etag`, only
    if the state is still that version: refused whole otherwise, as the repositories raise)."""
    message = Outgoing("person-changed", f'{{"n": {n}}}', f"changed:{partition}:{n}", session_id=partition)
    state = Entity(partition, "state", {"n": n})
    ops = [Op("replace", state, etag) if etag else Op("upsert", state)]

    def write(outbox):
        try:
            return rt.store.table("things").batch(partition, [*ops, *outbox])
        except BatchFailed as failure:
            raise failure.cause from None

    return committed_with(rt, "things", partition, [message], write)


def marks(rt) -> list:
    return list(OutboxRepository(rt.store).marks_before(rt.clock.now() + timedelta(days=1), 100))


def queued(rt) -> list[str]:
    found = []
    while (delivery := rt.bus.receive(rt.settings.queue("person-changed"))) is not None:
        found.append(delivery.message_id)
        rt.bus.complete(delivery)
    return found


def test_a_unit_s_writers_are_relayed_together_once_it_commits_leaving_nothing_behind(rt):
    bus = rt.bus = CountingBus(rt.bus)
    with rt.store.unit_of_work():
        for partition in PLACES:
            write_state(rt, partition)
        assert bus.calls == []  # nothing announced before it exists
    assert bus.calls == ["publish_many(3)"]
    assert queued(rt) == [f"changed:{p}:1" for p in PLACES]
    assert marks(rt) == [] and outbox_backlog(rt) == 0
    assert all(OutboxRepository(rt.store).pending("things", p) == [] for p in PLACES)


def test_when_the_bus_refuses_one_mark_names_every_place_and_the_timer_relays_them(rt, clock):
    rt.bus = CountingBus(rt.bus, refuse=True)
    with rt.store.unit_of_work():
        for partition in PLACES:
            write_state(rt, partition)
    [mark] = marks(rt)
    assert mark.places == tuple(("things", p) for p in PLACES)
    assert outbox_backlog(rt) == 3
    rt.bus = rt.bus.inner
    clock.advance(timedelta(minutes=1))
    assert relay_stale(rt) == {"marks": 1, "published": 3}
    assert queued(rt) == [f"changed:{p}:1" for p in PLACES]
    assert outbox_backlog(rt) == 0
    clock.advance(SETTLE_AFTER)
    relay_stale(rt)  # the mark of an emptied outbox goes
    assert marks(rt) == []


def test_a_refused_batch_in_a_unit_is_neither_marked_nor_announced(rt):
    write_state(rt, "p1")  # outside a unit: relayed at once
    assert queued(rt) == ["changed:p1:1"]
    rt.bus = CountingBus(rt.bus, refuse=True)
    with rt.store.unit_of_work():
        write_state(rt, "p0")
        with pytest.raises(ETagMismatch):
            write_state(rt, "p1", n=2, etag='W/"stale"')
        write_state(rt, "p2")
    [mark] = marks(rt)
    assert mark.places == (("things", "p0"), ("things", "p2"))
    assert OutboxRepository(rt.store).pending("things", "p1") == []


def test_a_unit_whose_every_batch_was_refused_writes_no_mark_and_publishes_nothing(rt):
    write_state(rt, "p0")
    queued(rt)
    bus = rt.bus = CountingBus(rt.bus)
    with rt.store.unit_of_work(), pytest.raises(ETagMismatch):
        write_state(rt, "p0", n=2, etag='W/"stale"')
    assert marks(rt) == [] and bus.calls == [] and queued(rt) == []


def test_a_write_that_failed_otherwise_leaves_its_place_marked_for_the_timer(rt, clock):
    def broken(outbox):
        raise OSError("the disk is full")

    with rt.store.unit_of_work():
        write_state(rt, "p0")
        with pytest.raises(OSError):
            committed_with(rt, "things", "p1", [Outgoing("person-changed", "{}", "never", session_id="p1")], broken)
    assert queued(rt) == ["changed:p0:1"]  # what landed is announced
    [mark] = marks(rt)  # but the mark stays: the failed write may have left rows behind
    assert mark.places == (("things", "p0"), ("things", "p1"))
    clock.advance(SETTLE_AFTER + timedelta(minutes=1))
    assert relay_stale(rt) == {"marks": 1, "published": 0}
    assert marks(rt) == []


def test_a_failed_write_keeps_the_mark_even_when_a_later_write_to_its_place_lands(rt):
    def half_landed(outbox):  # its outbox row lands, then the write fails (a later step of it)
        rt.store.table("things").batch("p1", outbox)
        raise OSError("the disk is full")

    with rt.store.unit_of_work():
        with pytest.raises(OSError):
            committed_with(rt, "things", "p1", [Outgoing("person-changed", "{}", "stranded", session_id="p1")],
                           half_landed)
        write_state(rt, "p1")  # the same place again (the same person later in the chunk)
    assert queued(rt) == ["changed:p1:1"]  # what the second write announced
    [mark] = marks(rt)  # the first write's row is still there: the timer must find it
    assert mark.places == (("things", "p1"),)
    assert relay_partition(rt, "things", "p1") == 1 and queued(rt) == ["stranded"]


def test_a_crash_while_the_unit_s_mark_is_written_takes_its_batches_with_it(rt, clock):
    counted = FaultPlan()
    with dataclasses.replace(rt, store=FaultyStore(rt.store, counted)).store.unit_of_work():
        pass
    counting = dataclasses.replace(rt, store=FaultyStore(rt.store, counted))
    with counting.store.unit_of_work():
        for partition in PLACES:
            write_state(counting, partition)
    at_mark = counted.seen.index("insert relaymarks/marks") + 1  # the boundaries: three batches, then the mark
    assert at_mark == 4
    for partition in PLACES:  # start again from nothing
        rt.store.table("things").delete(partition, "state")
    queued(rt)

    crashing = dataclasses.replace(rt, store=FaultyStore(rt.store, FaultPlan(crash_at=at_mark)))
    with pytest.raises(SimulatedCrash), crashing.store.unit_of_work():
        for partition in PLACES:
            write_state(crashing, partition, n=2)
    assert [rt.store.table("things").get(p, "state") for p in PLACES] == [None] * 3  # rolled back whole
    assert marks(rt) == [] and outbox_backlog(rt) == 0 and queued(rt) == []
    with rt.store.unit_of_work():  # the rerun (a redelivery, the import started again) writes it all
        for partition in PLACES:
            write_state(rt, partition, n=2)
    assert queued(rt) == [f"changed:{p}:2" for p in PLACES] and marks(rt) == []
