"""The outbox relay: messages recorded with a state change reach the bus (docs/architecture.md §10).

A writer calls `committed_with`: mark → the caller's batch with the outbox rows → publish
them (deterministic message ids: the bus drops a replay) → delete the rows → unmark. The
relay runs as soon as the batch is durable (right after it, or after the store's unit of
work commits: nothing is announced before it exists) and adds no waiting; a failed publish
is left to the timer (`relay_stale`), which visits only the places a crash marked, never
the whole registry.

Inside a unit of work that commits as one (SQLite: `TableStore.before_commit`), the unit's
writers share its relay: one mark naming every place their batches wrote rows to, written
in the unit just before it commits (it lands with the batches or not at all), and once it
has committed one `publish_many` of all their messages, the rows settled and the mark
removed — a handful of writes per unit instead of three per writer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from shared import telemetry
from shared.bus import bus_id
from shared.bus.port import BusError, Publication
from shared.runtime import Runtime
from shared.store.outbox import Mark, OutboxRepository, Outgoing, Place, outbox_ops
from shared.store.port import EntityExists, ETagMismatch, Op, TableStore

log = logging.getLogger("roster.relay")
T = TypeVar("T")
RELAY_GRACE = timedelta(seconds=30)  # the writer's own relay had its chance
SETTLE_AFTER = timedelta(minutes=15)  # > functionTimeout (10 min): no batch of the mark can still land
RELAY_LIMIT = 500  # marks visited per timer run


def message_id(*parts: object) -> str:
    """A deterministic message id from its parts (`bus_id`: a digest stands in when it would
    pass Service Bus's 128 characters)."""
    return bus_id(":".join(str(p) for p in parts))


def committed_with(
    rt: Runtime, table: str, partition: str, messages: list[Outgoing], write: Callable[[list[Op]], T]
) -> T:
    """Run `write(outbox ops)` — the caller adds them to its atomic batch in `partition` of
    `table` — then relay the messages. Without messages it is just `write([])`."""
    if not messages:
        return write([])
    unit = _unit_relay(rt)
    if unit is None:
        return _committed_alone(rt, (table, partition), messages, write)
    try:
        result = write(outbox_ops(partition, messages))
    except (ETagMismatch, EntityExists):
        raise  # the batch was refused whole: nothing waits there
    except BaseException:
        unit.failed((table, partition))  # whatever landed is the timer's
        raise
    unit.add((table, partition), messages)
    return result


def _committed_alone(rt: Runtime, place: Place, messages: list[Outgoing], write: Callable[[list[Op]], T]) -> T:
    """Outside a unit that commits as one: the mark is written before the batch, and the
    relay runs once the batch is durable."""
    repo = OutboxRepository(rt.store)
    mark = repo.mark(*place, rt.clock.now())
    try:
        result = write(outbox_ops(place[1], messages))
    except (ETagMismatch, EntityExists):
        repo.unmark(mark)  # the batch was refused whole: nothing waits there
        raise
    rt.store.after_commit(lambda: relay_places(rt, {place: messages}) and repo.unmark(mark))
    return result


class _UnitRelay:
    """The relay of one store unit of work: the places its writers' batches wrote outbox
    rows to, and the messages to publish once it has committed."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self.marked: dict[Place, None] = {}  # in order; every place that may hold rows
        self.sent: dict[Place, list[Outgoing]] = {}  # the places whose batches landed, their messages
        self.broken: set[Place] = set()  # places where a write failed after rows may have landed
        self.marks: list[Mark] = []

    def failed(self, place: Place) -> None:
        """A write to `place` failed other than by refusal: its rows, if any, are the timer's
        (even when a later write to the same place lands and is relayed)."""
        self.marked.setdefault(place)
        self.broken.add(place)

    def add(self, place: Place, messages: list[Outgoing]) -> None:
        self.marked.setdefault(place)
        self.sent.setdefault(place, []).extend(messages)

    def seal(self) -> None:
        """Just before the unit commits, in it: the marks of every place (none when every
        batch was refused). A failure here rolls the unit back."""
        _open_units().pop(self.rt.store, None)
        if self.marked:
            self.marks = OutboxRepository(self.rt.store).mark_places(list(self.marked), self.rt.clock.now())

    def relay(self) -> None:
        """Once the unit has committed: publish, settle, and unmark when every marked place
        was relayed and no write failed (a place whose write failed is left to the timer)."""
        if not self.sent or not relay_places(self.rt, self.sent) or self.broken:
            return
        repo = OutboxRepository(self.rt.store)
        for mark in self.marks:
            repo.unmark(mark)


_local = threading.local()


def forget_unit(store: TableStore) -> None:
    """Drop this thread's relay of `store`'s unit, given up without committing (an optimistic
    unit that conflicted or was dropped: nothing of it was written, so nothing to relay)."""
    _open_units().pop(store, None)


def _open_units() -> dict[TableStore, _UnitRelay]:
    """This thread's open unit relays, by store."""
    units = getattr(_local, "units", None)
    if units is None:
        units = _local.units = {}
    return units


def _unit_relay(rt: Runtime) -> _UnitRelay | None:
    """The relay of the store's open unit of work on this thread — started with the unit's
    first writer with messages — or None outside a unit that commits as one."""
    units = _open_units()
    unit = units.get(rt.store)
    if unit is not None:
        return unit
    unit = _UnitRelay(rt)
    if not rt.store.before_commit(unit.seal):
        return None
    units[rt.store] = unit
    rt.store.after_commit(unit.relay)
    return unit


def relay(rt: Runtime, table: str, partition: str, messages: list[Outgoing]) -> bool:
    """Publish and settle the messages of one place; False (left to the timer) when the bus
    refused them."""
    return relay_places(rt, {(table, partition): messages})


def relay_places(rt: Runtime, places: dict[Place, list[Outgoing]]) -> bool:
    """Publish the messages of every place in one `publish_many`, then settle each; False
    (left to the timer) when the bus refused them."""
    try:
        rt.bus.publish_many([_publication(rt, m) for messages in places.values() for m in messages])
    except BusError as error:
        log.warning("outbox relay deferred (%d place(s)): %s", len(places), type(error).__name__)
        return False
    repo = OutboxRepository(rt.store)
    for (table, partition), messages in places.items():
        for message in messages:
            repo.settle(table, partition, message)
    return True


def publish(rt: Runtime, message: Outgoing) -> None:
    """One message on its configured queue (also for messages that need no outbox row), in
    a producer span of the trace it was caused in, which the message carries on."""
    with telemetry.sending(message.queue, message.trace) as properties:
        rt.bus.publish(rt.settings.queue(message.queue), message.body, message_id=message.message_id,
                       session_id=message.session_id, scheduled_at=message.scheduled_at, properties=properties)


def _publication(rt: Runtime, message: Outgoing) -> Publication:
    """The message for `publish_many`, with the properties of its producer span (the span
    marks its hand-over to the batch, in the trace it was caused in)."""
    with telemetry.sending(message.queue, message.trace) as properties:
        return Publication(rt.settings.queue(message.queue), message.body, message.message_id,
                           message.session_id, message.scheduled_at, properties)


def relay_stale(rt: Runtime, limit: int = RELAY_LIMIT) -> dict:
    """The timer's safety net: every mark older than the grace gets its places relayed;
    a mark older than any batch that could still land is removed."""
    repo, now = OutboxRepository(rt.store), rt.clock.now()
    visited = published = 0
    for mark in list(repo.marks_before(now - RELAY_GRACE, limit)):
        visited += 1
        published += sum(relay_partition(rt, table, partition) for table, partition in mark.places)
        _settle_mark(repo, mark, now)
    return {"marks": visited, "published": published}


def relay_partition(rt: Runtime, table: str, partition: str) -> int:
    """Publish whatever waits in one partition's outbox; returns how many were sent."""
    pending = OutboxRepository(rt.store).pending(table, partition)
    return len(pending) if pending and relay(rt, table, partition, pending) else 0


def outbox_backlog(rt: Runtime) -> int:
    """Outbox rows waiting in marked places (what the relay still has to publish)."""
    repo = OutboxRepository(rt.store)
    places = {place for m in repo.marks_before(rt.clock.now() + timedelta(days=1), 10_000) for place in m.places}
    return sum(len(repo.pending(table, partition)) for table, partition in places)


def _settle_mark(repo: OutboxRepository, mark: Mark, now) -> None:
    if mark.at < now - SETTLE_AFTER and not any(repo.pending(table, partition) for table, partition in mark.places):
        repo.unmark(mark)
