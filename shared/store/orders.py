"""How orders and assignments become entities.

- `orders`, partition `person:<id>`: rows `o|<order id>` (orders), `a|<target>|<entitlement>`
  (assignments), `evaluated` (the evaluation marker: its etag guards an evaluation against
  another, `groups_version` says which memberships it saw), `audit|…` and `outbox|…`; one
  person's evaluation commits in one batch.
- `orders`, partition `queue:<target>:<state>`: the worklist, rows `<created>|<order id>`.
- `orders`, partition `assigned:<target>`: rows `<person id>|<entitlement>` {status,
  external_id?}, what Roster believes the target holds (reconciliation, the mass-change
  guard, the logins already taken).
- `orders`, partition `guard:<target>`: removal counts per hour.
- `orders`, partition `digest:<target>`: rows `<window>` {counts by action}: manual orders
  from queue-driven evaluations, told to the desk in one email per window.
An order id starts with its person's id, so an order is found without an index.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime

from shared.models.provisioning import Assignment, Order, OrderState
from shared.store.contention import read_modify_write
from shared.store.documents import pack_json, unpack_json
from shared.store.keys import instant_key
from shared.store.port import BatchFailed, Entity, ETagMismatch, Op, TableStore
from shared.store.scan import scan
from shared.telemetry import order_stored

MAX_BATCH = 100
EVALUATED = "evaluated"


def new_order_id(person_id: str) -> str:
    return f"{person_id}.{os.urandom(6).hex()}"


def person_of(order_id: str) -> str:
    return order_id.rsplit(".", 1)[0]


def _person(person_id: str) -> str:
    return f"person:{person_id}"


def _queue_row(order: Order) -> str:
    return f"{instant_key(order.created_at)}|{order.id}"


class OrderRepository:
    def __init__(self, store: TableStore):
        self.table = store.table("orders")

    def get(self, order_id: str) -> tuple[Order, str] | None:
        if "." not in order_id:
            return None
        entity = self.table.get(_person(person_of(order_id)), f"o|{order_id}")
        return None if entity is None else (Order.model_validate(unpack_json(entity.properties)), entity.etag)

    def of_person(self, person_id: str) -> list[Order]:
        return [order for order, _ in self.of_person_with_etags(person_id)]

    def of_person_with_etags(self, person_id: str) -> list[tuple[Order, str]]:
        rows = self.table.query(_person(person_id), prefix="o|")
        found = [(Order.model_validate(unpack_json(e.properties)), e.etag) for e in rows]
        return sorted(found, key=lambda pair: pair[0].created_at)

    def evaluation_marker(self, person_id: str) -> tuple[str | None, int]:
        """The etag of the person's evaluation marker — two evaluations of one person that
        overlap cannot both commit (the second retries and sees the first one's orders) —
        and the version of the memberships that evaluation saw."""
        entity = self.table.get(_person(person_id), EVALUATED)
        return (None, 0) if entity is None else (entity.etag, entity.properties.get("groups_version", 0))

    def provisioned_version(self, person_id: str) -> int:
        return self.evaluation_marker(person_id)[1]

    def assignments(self, person_id: str) -> list[Assignment]:
        rows = self.table.query(_person(person_id), prefix="a|")
        return [Assignment.model_validate(unpack_json(e.properties)) for e in rows]

    def queue(self, target_id: str, state: OrderState, limit: int | None = None) -> Iterator[str]:
        """Order ids waiting in one state for one target, oldest first."""
        for entity in self.table.query(f"queue:{target_id}:{state.value}", limit=limit):
            yield entity.properties["order_id"]

    def queue_from(self, target_id: str, state: OrderState, start: str | None, chunk: int) -> Iterator[tuple[str, str]]:
        """(row key, order id) waiting in one state for one target from `start` on, oldest first,
        read `chunk` rows at a time."""
        for entity in scan(self.table, f"queue:{target_id}:{state.value}", start=start, chunk=chunk):
            yield entity.row_key, entity.properties["order_id"]

    def accounts(self, target_id: str) -> dict[str, str]:
        """Account id (as recorded on confirmation or by a connector) → person id, in the target."""
        found = {}
        for entity in self.table.query(f"assigned:{target_id}"):
            person_id, entitlement = entity.row_key.split("|", 1)
            if entitlement == "account" and entity.properties.get("external_id"):
                found[entity.properties["external_id"]] = person_id
        return found

    def assigned(self, target_id: str) -> Iterator[tuple[str, str]]:
        """(person id, entitlement) pairs Roster believes the target holds."""
        for entity in self.table.query(f"assigned:{target_id}"):
            person_id, entitlement = entity.row_key.split("|", 1)
            yield person_id, entitlement

    def commit(
        self,
        person_id: str,
        orders: list[tuple[Order, str | None, OrderState | None]],
        assignments: list[Assignment],
        audits: list[Entity],
        evaluated: tuple[datetime, str | None, int] | None = None,
        outbox: list[Op] = (),
    ) -> None:
        """Write orders (with their previous etag and state), assignments, audit records and
        outbox rows atomically in the person's partition, then the worklist and assignment
        indexes (a crash in between leaves index rows the sweep repairs). `evaluated` (when,
        the marker's etag as read, the memberships' version) guards an evaluation against
        another."""
        partition = _person(person_id)
        ops = list(outbox)
        if evaluated is not None:
            marker = Entity(partition, EVALUATED, {"at": evaluated[0], "groups_version": evaluated[2]})
            ops.insert(0, Op("replace", marker, evaluated[1]) if evaluated[1] else Op("insert", marker))
        for order, etag, _ in orders:
            entity = Entity(partition, f"o|{order.id}", pack_json(order.model_dump(mode="json")))
            ops.append(Op("replace", entity, etag) if etag else Op("insert", entity))
        for a in assignments:
            ops.append(Op("upsert", Entity(partition, f"a|{a.target_id}|{a.entitlement}",
                                            pack_json(a.model_dump(mode="json")))))
        ops += [Op("insert", audit) for audit in audits]
        for start in range(0, len(ops), MAX_BATCH):
            try:
                self.table.batch(partition, ops[start:start + MAX_BATCH])
            except BatchFailed as failure:
                raise failure.cause from None
        for order, _, previous in orders:
            self._requeue(order, previous)
            order_stored(order.target_id, order.state.value, previous.value if previous else None)
        for a in assignments:
            self.index_assignment(a)

    def index_assignment(self, a: Assignment) -> None:
        """The `assigned:<target>` row of one assignment, as its status says."""
        key = f"{a.person_id}|{a.entitlement}"
        if a.status == "removed":
            self.table.delete(f"assigned:{a.target_id}", key)
        else:
            props = {"status": a.status, **({"external_id": a.external_id} if a.external_id else {})}
            self.table.upsert(Entity(f"assigned:{a.target_id}", key, props))

    def _requeue(self, order: Order, previous: OrderState | None) -> None:
        """The new state's listing first, then the old one's removed: a crash in between
        leaves the order listed twice (readers check the state), never nowhere."""
        self.list_in(order, order.state)
        if previous is not None and previous != order.state:
            self.unlist(order, previous)

    def listed_in(self, order: Order) -> list[OrderState]:
        """The worklists (per state) that list the order: only a state the order has been in
        can (its history says which), so the others are not read."""
        row, been = _queue_row(order), {e.state for e in order.history} | {order.state}
        return [s for s in OrderState
                if s in been and self.table.get(f"queue:{order.target_id}:{s.value}", row) is not None]

    def list_in(self, order: Order, state: OrderState) -> None:
        self.table.upsert(Entity(f"queue:{order.target_id}:{state.value}", _queue_row(order),
                                 {"order_id": order.id, "person_id": order.person_id}))

    def unlist(self, order: Order, state: OrderState) -> None:
        self.table.delete(f"queue:{order.target_id}:{state.value}", _queue_row(order))

    def assigned_status(self, target_id: str, person_id: str, entitlement: str) -> str | None:
        entity = self.table.get(f"assigned:{target_id}", f"{person_id}|{entitlement}")
        return None if entity is None else entity.properties["status"]

    def add_to_digest(self, target_id: str, window: str, counts: dict[str, int]) -> None:
        """Add order counts (by action) to the target's digest of `window`."""

        def merged(entity: Entity | None) -> dict:
            held = json.loads(entity.properties["counts"]) if entity else {}
            return {"counts": json.dumps({a: held.get(a, 0) + counts.get(a, 0) for a in sorted({*held, *counts})})}

        if not self._read_modify_write((f"digest:{target_id}", window), merged):
            raise ETagMismatch(f"the digest of {target_id} is being counted by many at once")

    def digest(self, target_id: str, window: str) -> dict[str, int]:
        entity = self.table.get(f"digest:{target_id}", window)
        return json.loads(entity.properties["counts"]) if entity else {}

    def forget_digest(self, target_id: str, window: str) -> None:
        self.table.delete(f"digest:{target_id}", window)

    def removals_in_hour(self, target_id: str, at: datetime) -> int:
        entity = self.table.get(f"guard:{target_id}", at.strftime("%Y%m%dT%H"))
        return entity.properties["count"] if entity else 0

    def count_removals(self, target_id: str, at: datetime, add: int) -> None:
        """Add `add` removals to the hour of `at` (a lost count only loosens the guard)."""
        self._read_modify_write((f"guard:{target_id}", at.strftime("%Y%m%dT%H")),
                                lambda entity: {"count": (entity.properties["count"] if entity else 0) + add})

    def _read_modify_write(self, key: tuple[str, str], change) -> bool:
        """Write `change(row or None)` to the row with its ETag, retrying when someone else
        wrote first (the one attempt policy); False if they always did."""
        return read_modify_write(self.table, *key, change) is not None
