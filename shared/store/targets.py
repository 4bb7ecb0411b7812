"""Targets and their policies: partition `targets`, rows by target id; policies in the
target's own partition so a target and its policies read in one query."""

from __future__ import annotations

from shared.models.provisioning import Policy, Target
from shared.store.documents import pack_json, unpack_json
from shared.store.port import Entity, TableStore

TARGETS = "targets"


class TargetRepository:
    def __init__(self, store: TableStore):
        self.table = store.table("targets")

    def get(self, target_id: str) -> Target | None:
        entity = self.table.get(TARGETS, target_id)
        return None if entity is None else Target.model_validate(unpack_json(entity.properties))

    def all(self) -> list[Target]:
        return [Target.model_validate(unpack_json(e.properties)) for e in self.table.query(TARGETS)]

    def save(self, target: Target) -> None:
        self.table.upsert(Entity(TARGETS, target.id, pack_json(target.model_dump(mode="json"))))

    def policies(self, target_id: str) -> list[Policy]:
        rows = self.table.query(f"policy:{target_id}")
        return [Policy.model_validate(unpack_json(e.properties)) for e in rows]

    def add_policy(self, target_id: str, policy: Policy) -> None:
        key = f"{policy.group_id}|{policy.entitlement}"
        self.table.upsert(Entity(f"policy:{target_id}", key, pack_json(policy.model_dump(mode="json"))))
