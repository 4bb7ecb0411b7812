"""How pending matches and merge records become entities.

- `pendingmatches`: partition `pending`, row = the match id (a digest of source and source
  id, so a redelivered update finds its match) → the document; the open ones are read
  with an equality filter on `state`. Each match's trail: partition = its id, `audit|…`.
- `merges`: partition = the survivor's id, row = the merge id → the record (the absorbed
  person as it was), so a split restores exactly what the merge moved.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from shared.models.matching import MergeRecord, PendingMatch
from shared.store.audit import audit_trail
from shared.store.documents import pack_json, unpack_json
from shared.store.port import Entity, TableStore

PARTITION = "pending"
ROW = "match"


def match_id(source: str, source_id: str) -> str:
    return "pm-" + hashlib.sha256(f"{source}\x1f{source_id}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class StoredMatch:
    match: PendingMatch
    etag: str


class PendingRepository:
    def __init__(self, store: TableStore):
        self.table = store.table("pendingmatches")
        self.merges = store.table("merges")

    def get(self, match_id: str) -> StoredMatch | None:
        entity = self.table.get(PARTITION, match_id)
        if entity is None:
            return None
        return StoredMatch(PendingMatch.model_validate(unpack_json(entity.properties)), entity.etag)

    def insert(self, match: PendingMatch) -> None:
        self.table.insert(self._entity(match))

    def replace(self, match: PendingMatch, etag: str) -> None:
        self.table.replace(self._entity(match), etag)

    def open(self, limit: int) -> list[PendingMatch]:
        rows = self.table.query(PARTITION, equals={"state": "open"}, limit=limit)
        return [PendingMatch.model_validate(unpack_json(e.properties)) for e in rows]

    def audit(self, record: Entity) -> None:
        self.table.insert(record)

    def trail(self, match_id: str) -> list[dict]:
        return list(audit_trail(self.table, match_id))

    def save_merge(self, record: MergeRecord, etag: str | None = None) -> None:
        entity = Entity(record.survivor, record.id, pack_json(record.model_dump(mode="json")))
        if etag is None:
            self.merges.upsert(entity)
        else:
            self.merges.replace(entity, etag)

    def merges_of(self, survivor: str) -> list[tuple[MergeRecord, str]]:
        return [(MergeRecord.model_validate(unpack_json(e.properties)), e.etag) for e in self.merges.query(survivor)]

    @staticmethod
    def _entity(match: PendingMatch) -> Entity:
        props = pack_json(match.model_dump(mode="json"))
        props["state"] = match.state
        return Entity(PARTITION, match.id, props)
