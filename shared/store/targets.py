"""Targets and their policies: partition `targets`, rows by target id; policies in the
target's own partition so a target and its policies read in one query. A change is written
with its audit record in one batch (the records' rows start with `audit|`; ids never do)."""

from __future__ import annotations

from collections.abc import Iterable

from shared.models.provisioning import Policy, Target
from shared.store.audit import PREFIX as AUDIT
from shared.store.documents import pack_json, unpack_json
from shared.store.port import BatchFailed, Entity, Op, TableStore

TARGETS = "targets"


class TargetRepository:
    def __init__(self, store: TableStore):
        self.table = store.table("targets")

    def get(self, target_id: str) -> Target | None:
        entity = self.table.get(TARGETS, target_id)
        return None if entity is None else Target.model_validate(unpack_json(entity.properties))

    def all(self) -> list[Target]:
        return [Target.model_validate(unpack_json(e.properties)) for e in _records(self.table.query(TARGETS))]

    def save(self, target: Target, audit: Entity | None = None, *, create: bool = False) -> None:
        """Upsert the target (insert when `create`: EntityExists if it does) with its audit record."""
        entity = Entity(TARGETS, target.id, pack_json(target.model_dump(mode="json")))
        self._write(TARGETS, Op("insert" if create else "upsert", entity), audit)

    def policies(self, target_id: str) -> list[Policy]:
        rows = _records(self.table.query(f"policy:{target_id}"))
        return [Policy.model_validate(unpack_json(e.properties)) for e in rows]

    def add_policy(self, target_id: str, policy: Policy, audit: Entity | None = None) -> None:
        """Upsert the policy, with the audit record (if any) in the target's policy partition."""
        partition = f"policy:{target_id}"
        self._write(partition, Op("upsert", Entity(partition, _policy_key(policy),
                                                   pack_json(policy.model_dump(mode="json")))), audit)

    def remove_policy(self, target_id: str, policy: Policy, audit: Entity) -> None:
        """Delete the policy, with its audit record in the same batch."""
        partition = f"policy:{target_id}"
        self._write(partition, Op("delete", Entity(partition, _policy_key(policy), {})), audit)

    def _write(self, partition: str, op: Op, audit: Entity | None) -> None:
        ops = [op] if audit is None else [op, Op("insert", Entity(partition, audit.row_key, audit.properties))]
        try:
            self.table.batch(partition, ops)
        except BatchFailed as failure:
            raise failure.cause from None


def _records(entities: Iterable[Entity]) -> list[Entity]:
    return [e for e in entities if not e.row_key.startswith(AUDIT)]


def _policy_key(policy: Policy) -> str:
    return f"{policy.group_id}|{policy.entitlement}"
