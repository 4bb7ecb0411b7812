"""Targets and their policies: partition `targets`, rows by target id; policies in the
partition `policy:<target>`, rows `<group>|<entitlement>`. Audit records (`audit|…`) sit
beside what they describe and are written in the same batch."""

from __future__ import annotations

from shared.models.provisioning import Policy, Target
from shared.store.audit import PREFIX
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
        rows = self.table.query(TARGETS)
        return [Target.model_validate(unpack_json(e.properties)) for e in rows if not e.row_key.startswith(PREFIX)]

    def save(self, target: Target, audit: Entity | None = None) -> None:
        """Write the target (and, in the same batch, its audit record in partition `targets`)."""
        entity = Entity(TARGETS, target.id, pack_json(target.model_dump(mode="json")))
        self._write(TARGETS, Op("upsert", entity), audit)

    def policies(self, target_id: str) -> list[Policy]:
        rows = self.table.query(_policies(target_id))
        return [Policy.model_validate(unpack_json(e.properties)) for e in rows if "doc" in e.properties]

    def add_policy(self, target_id: str, policy: Policy, audit: Entity | None = None) -> None:
        entity = Entity(_policies(target_id), _policy_key(policy), pack_json(policy.model_dump(mode="json")))
        self._write(entity.partition_key, Op("upsert", entity), audit)

    def remove_policy(self, target_id: str, policy: Policy, audit: Entity) -> None:
        self._write(_policies(target_id), Op("delete", Entity(_policies(target_id), _policy_key(policy), {})), audit)

    def _write(self, partition: str, op: Op, audit: Entity | None) -> None:
        try:
            self.table.batch(partition, [op] + ([Op("insert", audit)] if audit is not None else []))
        except BatchFailed as failure:
            raise failure.cause from None


def _policies(target_id: str) -> str:
    return f"policy:{target_id}"


def _policy_key(policy: Policy) -> str:
    return f"{policy.group_id}|{policy.entitlement}"
