"""The transactional outbox as entities (docs/architecture.md §10).

- Outbox rows live beside the state change they accompany — same table, same partition,
  same atomic batch: rows `outbox|<message id>` with the logical queue, the body, the
  session id, the scheduled instant and the trace context the message was caused in
  (`traceparent`/`tracestate`, shared/telemetry.py: a message relayed later still joins
  its trace). The relay deletes a row once the bus accepted it.
- `relaymarks` says where rows may be waiting, so the timer never scans the registry:
  partition `marks:<shard>` (16 shards by a digest of the (first) place), rows
  `<stamp>|<write id>` naming the table and partition — or, for a store unit of work that
  commits as one (SQLite), `places`: a JSON list of every [table, partition] its batches
  wrote rows to, written in the unit just before it commits. A writer inserts its mark
  *before* its batch (or with it, in one unit) and deletes it after its relay; only a crash
  or a bus that refused leaves a mark behind.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from shared.store.keys import instant_key
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


Place = tuple[str, str]  # (table, partition)
PLACES_CHARS = 30_000  # the `places` text of one mark row: within Table Storage's 32K-character strings


@dataclass(frozen=True)
class Mark:
    """Where a write (or one unit of work's writes) may leave outbox rows: its places, under
    one row."""

    shard: str
    row: str
    places: tuple[Place, ...]
    at: datetime


class OutboxRepository:
    def __init__(self, store: TableStore):
        self.store = store
        self.marks = store.table(MARKS)

    def mark(self, table: str, partition: str, at: datetime) -> Mark:
        """Record, before the batch, that (table, partition) may hold outbox rows."""
        return self._insert([(table, partition)], {"table": table, "partition": partition}, at)

    def mark_places(self, places: list[Place], at: datetime) -> list[Mark]:
        """Record that each of `places` may hold outbox rows: as few rows as the size of a
        property allows (a unit of work's marks, written just before it commits)."""
        marks, group, size = [], [], 0
        for place in places:
            cost = len(json.dumps(place)) + 1
            if group and size + cost > PLACES_CHARS:
                marks.append(self._insert(group, {"places": json.dumps(group)}, at))
                group, size = [], 0
            group.append(place)
            size += cost
        if group:
            marks.append(self._insert(group, {"places": json.dumps(group)}, at))
        return marks

    def _insert(self, places: list[Place], properties: dict, at: datetime) -> Mark:
        table, partition = places[0]
        shard = f"marks:{int(hashlib.sha256(f'{table}|{partition}'.encode()).hexdigest(), 16) % SHARDS:02d}"
        row = f"{instant_key(at)}|{os.urandom(6).hex()}"
        self.marks.insert(Entity(shard, row, {**properties, "at": at}))
        return Mark(shard, row, tuple(places), at)

    def unmark(self, mark: Mark) -> None:
        self.marks.delete(mark.shard, mark.row)

    def marks_before(self, before: datetime, limit: int) -> Iterator[Mark]:
        """Marks written before `before`, oldest first per shard, at most `limit` in all."""
        end = f"{instant_key(before)}|"
        count = 0
        for n in range(SHARDS):
            shard = f"marks:{n:02d}"
            for e in self.marks.query(shard, end=end, limit=limit - count):
                yield Mark(shard, e.row_key, _places(e.properties), e.properties["at"])
                count += 1
            if count >= limit:
                return

    def pending(self, table: str, partition: str) -> list[Outgoing]:
        return [Outgoing.of(e) for e in self.store.table(table).query(partition, prefix=ROW_PREFIX)]

    def settle(self, table: str, partition: str, message: Outgoing) -> None:
        """The bus accepted the message: its row goes (a missing row is no error)."""
        self.store.table(table).delete(partition, ROW_PREFIX + message.message_id)


def _places(properties: dict) -> tuple[Place, ...]:
    """A mark row's places: its `places` list, or the one table and partition it names."""
    if "places" in properties:
        return tuple((table, partition) for table, partition in json.loads(properties["places"]))
    return ((properties["table"], properties["partition"]),)
