"""The outbox relay: messages recorded with a state change reach the bus (docs/architecture.md §10).

A writer calls `committed_with`: mark → the caller's batch with the outbox rows → publish
them (deterministic message ids: the bus drops a replay) → delete the rows → unmark. The
relay runs as soon as the batch is durable (right after it, or after the store's unit of
work commits: nothing is announced before it exists) and adds no waiting; a failed publish
is left to the timer (`relay_stale`), which visits only the places a crash marked, never
the whole registry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from shared import telemetry
from shared.bus import bus_id
from shared.bus.port import BusError
from shared.runtime import Runtime
from shared.store.outbox import Mark, OutboxRepository, Outgoing, outbox_ops
from shared.store.port import EntityExists, ETagMismatch, Op

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
    repo = OutboxRepository(rt.store)
    mark = repo.mark(table, partition, rt.clock.now())
    try:
        result = write(outbox_ops(partition, messages))
    except (ETagMismatch, EntityExists):
        repo.unmark(mark)  # the batch was refused whole: nothing waits there
        raise
    rt.store.after_commit(lambda: relay(rt, table, partition, messages) and repo.unmark(mark))
    return result


def relay(rt: Runtime, table: str, partition: str, messages: list[Outgoing]) -> bool:
    """Publish and settle each message; False (left to the timer) when the bus refused one."""
    repo = OutboxRepository(rt.store)
    for message in messages:
        try:
            publish(rt, message)
        except BusError as error:
            log.warning("outbox relay deferred on %s: %s", message.queue, type(error).__name__)
            return False
        repo.settle(table, partition, message)
    return True


def publish(rt: Runtime, message: Outgoing) -> None:
    """One message on its configured queue (also for messages that need no outbox row), in
    a producer span of the trace it was caused in, which the message carries on."""
    with telemetry.sending(message.queue, message.trace) as properties:
        rt.bus.publish(rt.settings.queue(message.queue), message.body, message_id=message.message_id,
                       session_id=message.session_id, scheduled_at=message.scheduled_at, properties=properties)


def relay_stale(rt: Runtime, limit: int = RELAY_LIMIT) -> dict:
    """The timer's safety net: every mark older than the grace gets its partition relayed;
    a mark older than any batch that could still land is removed."""
    repo, now = OutboxRepository(rt.store), rt.clock.now()
    visited = published = 0
    for mark in list(repo.marks_before(now - RELAY_GRACE, limit)):
        visited += 1
        published += relay_partition(rt, mark.table, mark.partition)
        _settle_mark(repo, mark, now)
    return {"marks": visited, "published": published}


def relay_partition(rt: Runtime, table: str, partition: str) -> int:
    """Publish whatever waits in one partition's outbox; returns how many were sent."""
    pending = OutboxRepository(rt.store).pending(table, partition)
    return len(pending) if pending and relay(rt, table, partition, pending) else 0


def outbox_backlog(rt: Runtime) -> int:
    """Outbox rows waiting in marked places (what the relay still has to publish)."""
    repo = OutboxRepository(rt.store)
    places = {(m.table, m.partition) for m in repo.marks_before(rt.clock.now() + timedelta(days=1), 10_000)}
    return sum(len(repo.pending(table, partition)) for table, partition in places)


def _settle_mark(repo: OutboxRepository, mark: Mark, now) -> None:
    if mark.at < now - SETTLE_AFTER and not repo.pending(mark.table, mark.partition):
        repo.unmark(mark)
