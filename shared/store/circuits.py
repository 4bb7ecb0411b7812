"""Circuit breakers per target: partition `circuits`, one row per target id, updated under
its etag so that concurrent processes agree on one state; the audit records of opening
and closing live in the same partition (written in the same batch)."""

from __future__ import annotations

from shared.models.circuit import Circuit
from shared.store.audit import PREFIX
from shared.store.documents import pack_json, unpack_json
from shared.store.port import Entity, Op, TableStore

CIRCUITS = "circuits"


class CircuitRepository:
    def __init__(self, store: TableStore):
        self.table = store.table("circuits")

    def get(self, target_id: str) -> tuple[Circuit, str | None]:
        """The target's circuit and its etag; a closed one (etag None) when none is stored."""
        entity = self.table.get(CIRCUITS, target_id)
        if entity is None:
            return Circuit(target_id=target_id), None
        return Circuit.model_validate(unpack_json(entity.properties)), entity.etag

    def all(self) -> list[Circuit]:
        """Every stored circuit (the partition's audit records left out)."""
        rows = self.table.query(CIRCUITS)
        return [Circuit.model_validate(unpack_json(e.properties)) for e in rows if not e.row_key.startswith(PREFIX)]

    def save(self, circuit: Circuit, etag: str | None, audits: list[Entity]) -> None:
        """Insert (etag None) or replace under `etag`, with audit records of partition
        `circuits`, in one batch: BatchFailed when another process changed it meanwhile."""
        entity = Entity(CIRCUITS, circuit.target_id, pack_json(circuit.model_dump(mode="json")))
        write = Op("insert", entity) if etag is None else Op("replace", entity, etag)
        self.table.batch(CIRCUITS, [write, *(Op("insert", audit) for audit in audits)])
