"""Fault injection in the ports: a store and a bus that stop the process at a chosen write.

`FaultPlan(crash_at=n)` counts every store write (insert, upsert, replace, delete, batch)
and every publish through `FaultyStore`/`FaultyBus`; the n-th one raises `SimulatedCrash`
*before* it happens — as if the process died there (`kill -9`). `SimulatedCrash` is a
BaseException, so no handler's `except Exception` can swallow it. With `crash_at=None` the
plan only counts (and names) the boundaries, which is how a test learns how many there are.
Reads pass through untouched. Used by the crash-point tests (docs/recovery.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from shared.bus.port import Bus, Publication
from shared.store.port import Entity, Op, Table, TableStore


class SimulatedCrash(BaseException):
    """The process 'died' at a write boundary."""


@dataclass
class FaultPlan:
    crash_at: int | None = None
    seen: list[str] = field(default_factory=list)

    def step(self, what: str) -> None:
        """One boundary: crash here if it is the chosen one, else count it."""
        if self.crash_at is not None and len(self.seen) + 1 == self.crash_at:
            raise SimulatedCrash(f"crash before boundary {self.crash_at}: {what}")
        self.seen.append(what)


class FaultyTable:
    def __init__(self, inner: Table, plan: FaultPlan):
        self.inner, self.plan, self.name = inner, plan, inner.name

    def get(self, partition_key: str, row_key: str) -> Entity | None:
        return self.inner.get(partition_key, row_key)

    def query(self, partition_key: str, **options) -> Iterator[Entity]:
        return self.inner.query(partition_key, **options)

    def insert(self, entity: Entity) -> Entity:
        self.plan.step(f"insert {self.name}/{_kind(entity.partition_key)}")
        return self.inner.insert(entity)

    def upsert(self, entity: Entity) -> Entity:
        self.plan.step(f"upsert {self.name}/{_kind(entity.partition_key)}")
        return self.inner.upsert(entity)

    def replace(self, entity: Entity, etag: str | None) -> Entity:
        self.plan.step(f"replace {self.name}/{_kind(entity.partition_key)}")
        return self.inner.replace(entity, etag)

    def delete(self, partition_key: str, row_key: str, etag: str | None = None) -> None:
        self.plan.step(f"delete {self.name}/{_kind(partition_key)}")
        self.inner.delete(partition_key, row_key, etag)

    def batch(self, partition_key: str, ops: list[Op]) -> list[Entity]:
        self.plan.step(f"batch {self.name}/{_kind(partition_key)} ({len(ops)} ops)")
        return self.inner.batch(partition_key, ops)


class FaultyStore:
    def __init__(self, inner: TableStore, plan: FaultPlan):
        self.inner, self.plan = inner, plan

    def table(self, name: str) -> Table:
        return FaultyTable(self.inner.table(name), self.plan)  # type: ignore[return-value]

    def unit_of_work(self):
        return self.inner.unit_of_work()

    def after_commit(self, action) -> None:
        self.inner.after_commit(action)

    def before_commit(self, action) -> bool:
        return self.inner.before_commit(action)

    def close(self) -> None:
        self.inner.close()


class FaultyBus:
    def __init__(self, inner: Bus, plan: FaultPlan):
        self.inner, self.plan = inner, plan

    def publish(self, queue: str, body: bytes | str, message_id: str, session_id: str | None = None,
                scheduled_at: datetime | None = None, properties: Mapping[str, str] | None = None) -> None:
        self.plan.step(f"publish {queue}")
        self.inner.publish(queue, body, message_id, session_id=session_id, scheduled_at=scheduled_at,
                           properties=properties)

    def publish_many(self, messages: list[Publication]) -> None:
        """A boundary per message: a crash before the n-th leaves the ones before it sent (as
        a batch per queue on Service Bus may), in one call to the inner bus."""
        for n, message in enumerate(messages):
            try:
                self.plan.step(f"publish {message.queue}")
            except SimulatedCrash:
                self.inner.publish_many(messages[:n])
                raise
        self.inner.publish_many(messages)

    def close(self) -> None:
        self.inner.close()


def _kind(partition_key: str) -> str:
    """The partition's kind (`person`, `queue`, …), never its identifying part: no personal data."""
    return partition_key.split(":", 1)[0] if ":" in partition_key else "…"
