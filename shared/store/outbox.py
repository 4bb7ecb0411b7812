"""The transactional outbox as entities (docs/architecture.md §10).

- Outbox rows live beside the state change they accompany — same table, same partition,
  same atomic batch: rows `outbox|<message id>` with the logical queue, the body, the
  session id, the scheduled instant and the trace context the message was caused in
  (`traceparent`/`tracestate`, shared/telemetry.py: a message relayed later still joins
  its trace). The relay deletes a row once the bus accepted it.
- `relaymarks` says where rows may be waiting, so the timer never scans the registry:
  partition `marks:<shard>` (16 shards by a digest of the place), rows
  `<stamp>|<write id>` naming the table and partition. A writer inserts its mark *before*
  its batch and deletes it after its relay; only a crash leaves a mark behind.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from shared.store.port import Entity, Op, TableStore
from shared.telemetry import TRACEPARENT, TRACESTATE, carrier

ROW_PREFIX = "outbox|"
MARKS = "relaymarks"
SHARDS = 16


@dataclass(frozen=True)
class Outgoing:
    """One message a state change causes, published by the relay once the change is stored."""

    queue: str  # the logical queue of docs/architecture.md §4
    body: str
    message_id: str
    session_id: str | None = None
    scheduled_at: datetime | None = None
    trace: dict[str, str] = field(default_factory=carrier, compare=False)  # the cause's trace context

    def op(self, partition: str) -> Op:
        return Op("upsert", Entity(partition, ROW_PREFIX + self.message_id, {
            "queue": self.queue, "body": self.body, "message_id": self.message_id,
            "session_id": self.session_id, "scheduled_at": self.scheduled_at,
            TRACEPARENT: self.trace.get(TRACEPARENT), TRACESTATE: self.trace.get(TRACESTATE),
        }))

    @classmethod
    def of(cls, entity: Entity) -> Outgoing:
        p = entity.properties
        trace = {k: p[k] for k in (TRACEPARENT, TRACESTATE) if p.get(k)}
        return cls(p["queue"], p["body"], p["message_id"], p.get("session_id"), p.get("scheduled_at"), trace)


def outbox_ops(partition: str, messages: list[Outgoing]) -> list[Op]:
    """Upserts for the batch, one per distinct message id (a RowKey appears once per batch)."""
    unique = {m.message_id: m for m in messages}
    return [m.op(partition) for m in unique.values()]


@dataclass(frozen=True)
class Mark:
    """Where a write may leave outbox rows: (table, partition), under one write's row."""

    shard: str
    row: str
    table: str
    partition: str
    at: datetime


class OutboxRepository:
    def __init__(self, store: TableStore):
        self.store = store
        self.marks = store.table(MARKS)

    def mark(self, table: str, partition: str, at: datetime) -> Mark:
        """Record, before the batch, that (table, partition) may hold outbox rows."""
        shard = f"marks:{int(hashlib.sha256(f'{table}|{partition}'.encode()).hexdigest(), 16) % SHARDS:02d}"
        row = f"{at.strftime('%Y%m%dT%H%M%S.%fZ')}|{uuid.uuid4().hex[:12]}"
        self.marks.insert(Entity(shard, row, {"table": table, "partition": partition, "at": at}))
        return Mark(shard, row, table, partition, at)

    def unmark(self, mark: Mark) -> None:
        self.marks.delete(mark.shard, mark.row)

    def marks_before(self, before: datetime, limit: int) -> Iterator[Mark]:
        """Marks written before `before`, oldest first per shard, at most `limit` in all."""
        end = f"{before.strftime('%Y%m%dT%H%M%S.%fZ')}|"
        count = 0
        for n in range(SHARDS):
            shard = f"marks:{n:02d}"
            for e in self.marks.query(shard, end=end, limit=limit - count):
                yield Mark(shard, e.row_key, e.properties["table"], e.properties["partition"], e.properties["at"])
                count += 1
            if count >= limit:
                return

    def pending(self, table: str, partition: str) -> list[Outgoing]:
        return [Outgoing.of(e) for e in self.store.table(table).query(partition, prefix=ROW_PREFIX)]

    def settle(self, table: str, partition: str, message: Outgoing) -> None:
        """The bus accepted the message: its row goes (a missing row is no error)."""
        self.store.table(table).delete(partition, ROW_PREFIX + message.message_id)
