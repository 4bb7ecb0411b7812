"""How groups and memberships become entities.

- `groups`: partition `groups`; rows `g|<group id>` (the group), `generation` (bumped on every
  change, so evaluators know when to reload rules), `audit|…` and `outbox|…`.
- `memberships`: partition `person:<person id>` holds rows `m|<group id>` (the memberships),
  `state` (the effective groups at the last evaluation, the next change instant, a version),
  the `audit|…` trail of joins and leaves and the `outbox|…` rows, all written in one batch; partition `group:<group id>`
  mirrors the memberships per group (rows `<person id>`), repaired from the person side.
- `due`: partition = UTC day, rows `<instant>|<person id>`: when someone must be re-evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.models.group import Group, Membership
from shared.store.documents import pack_json, unpack_json
from shared.store.port import BatchFailed, Entity, EntityExists, ETagMismatch, Op, TableStore
from shared.store.scan import scan

GROUPS = "groups"
GENERATION = "generation"
STATE = "state"
MAX_BATCH = 100


def person_partition(person_id: str) -> str:
    return f"person:{person_id}"


def group_partition(group_id: str) -> str:
    return f"group:{group_id}"


class GroupRepository:
    def __init__(self, store: TableStore):
        self.table = store.table("groups")

    def get(self, group_id: str) -> tuple[Group, str] | None:
        entity = self.table.get(GROUPS, f"g|{group_id}")
        if entity is None:
            return None
        return Group.model_validate(unpack_json(entity.properties)), entity.etag

    def all(self) -> list[Group]:
        return [Group.model_validate(unpack_json(e.properties)) for e in self.table.query(GROUPS, prefix="g|")]

    def generation(self) -> int:
        entity = self.table.get(GROUPS, GENERATION)
        return 0 if entity is None else entity.properties["value"]

    def write(self, group: Group, etag: str | None, audit: Entity, *, create: bool = False,
              outbox: list[Op] = ()) -> None:
        """Insert or replace (If-Match) the group with its audit record, a new generation and
        the messages the change causes (outbox rows), in one batch."""
        entity = Entity(GROUPS, f"g|{group.id}", pack_json(group.model_dump(mode="json")))
        op = Op("insert", entity) if create else Op("replace", entity, etag)
        self._commit([op, Op("insert", audit), *outbox])

    def delete(self, group_id: str, etag: str, audit: Entity) -> None:
        self._commit([Op("delete", Entity(GROUPS, f"g|{group_id}"), etag), Op("insert", audit)])

    def _commit(self, ops: list[Op]) -> None:
        current = self.table.get(GROUPS, GENERATION)
        value = (current.properties["value"] if current else 0) + 1
        bump = Entity(GROUPS, GENERATION, {"value": value})
        ops = ops + [Op("replace", bump, current.etag) if current else Op("insert", bump)]
        try:
            self.table.batch(GROUPS, ops)
        except BatchFailed as failure:
            raise failure.cause from None


@dataclass
class PersonState:
    """The effective groups at the last evaluation, and when they may change next."""

    groups: list[str] = field(default_factory=list)
    next_change: datetime | None = None
    evaluated_at: datetime | None = None
    etag: str | None = None
    version: int = 0  # bumped by every commit: `group-update` ids and provisioning's marker name it


class MembershipRepository:
    def __init__(self, store: TableStore):
        self.table = store.table("memberships")

    def of_person(self, person_id: str) -> list[Membership]:
        rows = self.table.query(person_partition(person_id), prefix="m|")
        return [Membership.model_validate(unpack_json(e.properties)) for e in rows]

    def get(self, person_id: str, group_id: str) -> tuple[Membership, str] | None:
        entity = self.table.get(person_partition(person_id), f"m|{group_id}")
        if entity is None:
            return None
        return Membership.model_validate(unpack_json(entity.properties)), entity.etag

    def of_group(self, group_id: str, limit: int | None = None) -> list[Membership]:
        rows = self.table.query(group_partition(group_id), limit=limit)
        return [Membership.model_validate(unpack_json(e.properties)) for e in rows]

    def of_group_from(self, group_id: str, start: str | None, chunk: int) -> Iterator[tuple[str, Membership]]:
        """(row key, membership) of the group's members from `start` on, read `chunk` rows at a time."""
        for entity in scan(self.table, group_partition(group_id), start=start, chunk=chunk):
            yield entity.row_key, Membership.model_validate(unpack_json(entity.properties))

    def state(self, person_id: str) -> PersonState:
        entity = self.table.get(person_partition(person_id), STATE)
        if entity is None:
            return PersonState()
        props = entity.properties
        return PersonState(json.loads(props["groups"]), props.get("next_change"), props.get("evaluated_at"),
                           entity.etag, props.get("version", 0))

    def commit(
        self,
        person_id: str,
        upserts: list[Membership],
        deletes: list[str],
        state: PersonState,
        audits: list[Entity],
        outbox: list[Op] = (),
    ) -> None:
        """Write the person's side in one batch (state and the outbox rows last, If-Match),
        then mirror per group. ETagMismatch/EntityExists when someone else evaluated the
        person meanwhile. `state.etag` is the etag read; `state.version` the new version."""
        partition = person_partition(person_id)
        docs = [_document(m) for m in upserts]  # packed once: the person's row and the group's mirror
        ops = [Op("upsert", Entity(partition, f"m|{m.group_id}", doc)) for m, doc in zip(upserts, docs, strict=True)]
        ops += [Op("delete", Entity(partition, f"m|{g}")) for g in deletes]
        ops += [Op("insert", a) for a in audits]
        ops += list(outbox)
        state_row = Entity(partition, STATE, {
            "groups": json.dumps(sorted(state.groups)),
            "next_change": state.next_change,
            "evaluated_at": state.evaluated_at,
            "version": state.version,
        })
        ops.append(Op("replace", state_row, state.etag) if state.etag else Op("insert", state_row))
        for start in range(len(ops) - MAX_BATCH, -MAX_BATCH, -MAX_BATCH):  # the last chunk first
            self._batch(partition, ops[max(start, 0):start + MAX_BATCH])
        self.mirror(person_id, upserts, deletes, docs)

    def put_static(self, membership: Membership, audit: Entity) -> None:
        """Declare a static membership (with its audit record), mirrored per group."""
        partition = person_partition(membership.person_id)
        row = self._row(partition, f"m|{membership.group_id}", membership)
        self._batch(partition, [Op("upsert", row), Op("insert", audit)])
        self.mirror(membership.person_id, [membership], [])

    def remove_static(self, person_id: str, group_id: str, audit: Entity) -> None:
        partition = person_partition(person_id)
        self._batch(partition, [Op("delete", Entity(partition, f"m|{group_id}")), Op("insert", audit)])
        self.mirror(person_id, [], [group_id])

    def _batch(self, partition: str, ops: list[Op]) -> None:
        try:
            self.table.batch(partition, ops)
        except BatchFailed as failure:
            raise failure.cause from None

    def mirror(self, person_id: str, upserts: list[Membership], deletes: list[str],
               docs: list[dict] | None = None) -> None:
        """The per-group rows of the person's memberships (`docs`: the upserts already packed)."""
        for n, m in enumerate(upserts):
            self.table.upsert(Entity(group_partition(m.group_id), person_id,
                                     dict(docs[n]) if docs is not None else _document(m)))
        for group_id in deletes:
            self.table.delete(group_partition(group_id), person_id)

    def repair(self, person_id: str, group_ids: list[str]) -> int:
        """Make the per-group mirror agree with the person's memberships; returns fixes made."""
        memberships = {m.group_id: m for m in self.of_person(person_id)}
        fixes = 0
        for group_id in group_ids:
            mirrored = self.table.get(group_partition(group_id), person_id)
            if group_id in memberships and mirrored is None:
                self.table.upsert(self._row(group_partition(group_id), person_id, memberships[group_id]))
                fixes += 1
            elif group_id not in memberships and mirrored is not None:
                self.table.delete(group_partition(group_id), person_id)
                fixes += 1
        return fixes

    def mirrored_person_ids(self, group_id: str) -> Iterator[str]:
        for entity in self.table.query(group_partition(group_id)):
            yield entity.row_key

    @staticmethod
    def _row(partition: str, row_key: str, membership: Membership) -> Entity:
        return Entity(partition, row_key, _document(membership))


def _document(membership: Membership) -> dict:
    """A membership row's properties."""
    return pack_json(membership.model_dump(mode="json"))


class DueIndex:
    """Who must be re-evaluated when: the timer sweep's safety net under scheduled messages."""

    def __init__(self, store: TableStore):
        self.table = store.table("due")

    def add(self, person_id: str, at: datetime) -> None:
        self.table.upsert(Entity(_day(at), f"{_stamp(at)}|{person_id}", {"person_id": person_id, "at": at}))

    def remove(self, person_id: str, at: datetime) -> None:
        self.table.delete(_day(at), f"{_stamp(at)}|{person_id}")

    def due(self, now: datetime, days_back: int = 7) -> Iterator[tuple[str, datetime]]:
        """Entries due at or before now, from the last `days_back` days."""
        for back in range(days_back, -1, -1):
            day = now - timedelta(days=back)
            end = f"{_stamp(now)}|\uffff" if back == 0 else None
            for entity in self.table.query(_day(day), end=end):
                yield entity.properties["person_id"], entity.properties["at"]


def _day(at: datetime) -> str:
    """`at.astimezone(UTC).strftime("%Y-%m-%d")`, without strftime for four-digit years."""
    utc = at.astimezone(UTC)
    return utc.date().isoformat() if utc.year >= 1000 else utc.strftime("%Y-%m-%d")


def _stamp(at: datetime) -> str:
    """`at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")`, without strftime for four-digit years."""
    utc = at.astimezone(UTC)
    if utc.year < 1000:  # strftime writes such a year without padding
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{utc.date().isoformat()}T{utc.time().isoformat('microseconds')}Z"


__all__ = [
    "DueIndex", "EntityExists", "ETagMismatch", "GroupRepository", "MembershipRepository", "PersonState",
]
