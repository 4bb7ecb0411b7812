"""How the SCIM doors keep their state (docs/scim.md).

- `scimmappings`: partition `mapping`, row = source → the source's `ScimMapping`; its audit
  records (`audit|…`) in partition `mapping:{source}`.
- `scimusers`: partition = the SCIM client's source, row = person id → the record the client
  last wrote (its "connector space": what GET returns), `version`, `deleted`.
- `scimnames`: partition = source, row = folded userName → the person id (userName is
  unique per client; an insert claims it).
- `provisioninglogs`: partition = upload id, row = operation index → a `ProvisioningLogEntry`.
- `ratelimits`: partition = `{door}:{source}`, row = window number → `count`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.models.scim import ProvisioningLogEntry, ScimMapping
from shared.store.contention import read_modify_write
from shared.store.documents import pack_json, unpack_json
from shared.store.port import Entity, EntityExists, TableStore

MAPPING = "mapping"


class MappingRepository:
    def __init__(self, store: TableStore):
        self.table = store.table("scimmappings")

    def get(self, source: str) -> ScimMapping | None:
        entity = self.table.get(MAPPING, source)
        return None if entity is None else ScimMapping.model_validate(unpack_json(entity.properties))

    def save(self, source: str, mapping: ScimMapping, audit: Entity) -> None:
        self.table.upsert(Entity(MAPPING, source, pack_json(mapping.model_dump(mode="json"))))
        self.table.insert(audit)


@dataclass(frozen=True)
class ScimRecord:
    """What one SCIM client last wrote about one person."""

    person_id: str
    document: dict[str, Any]
    version: int
    created: datetime
    modified: datetime
    deleted: bool
    etag: str | None = None


class RecordRepository:
    def __init__(self, store: TableStore):
        self.records = store.table("scimusers")
        self.names = store.table("scimnames")

    def get(self, source: str, person_id: str) -> ScimRecord | None:
        entity = self.records.get(source, person_id)
        if entity is None:
            return None
        props = entity.properties
        return ScimRecord(person_id, unpack_json(props), props["version"], props["created"], props["modified"],
                          props["deleted"], entity.etag)

    def put(self, source: str, record: ScimRecord) -> None:
        """Write the record; with the etag of the one it replaces (ETagMismatch if it moved)."""
        props = pack_json(record.document)
        props.update(version=record.version, created=record.created, modified=record.modified,
                     deleted=record.deleted, external_id=str(record.document.get("externalId") or ""))
        entity = Entity(source, record.person_id, props)
        if record.etag is None:
            self.records.insert(entity)
        else:
            self.records.replace(entity, record.etag)

    def with_external_id(self, source: str, external_id: str) -> set[str]:
        """The persons whose record from this client carries the externalId (exact)."""
        return {e.row_key for e in self.records.query(source, equals={"external_id": external_id})}

    def name_owner(self, source: str, name: str) -> str | None:
        entity = self.names.get(source, name)
        return None if entity is None else entity.properties["person_id"]

    def claim_name(self, source: str, name: str, person_id: str) -> str:
        """Bind a userName to a person unless already bound; returns the owner."""
        try:
            self.names.insert(Entity(source, name, {"person_id": person_id}))
            return person_id
        except EntityExists:
            return self.name_owner(source, name)

    def move_name(self, source: str, name: str, person_id: str) -> None:
        self.names.upsert(Entity(source, name, {"person_id": person_id}))

    def release_name(self, source: str, name: str, person_id: str) -> None:
        if self.name_owner(source, name) == person_id:
            self.names.delete(source, name)


class LogRepository:
    def __init__(self, store: TableStore):
        self.table = store.table("provisioninglogs")

    def add(self, entries: list[ProvisioningLogEntry]) -> None:
        for index, entry in enumerate(entries):
            self.table.upsert(Entity(entry.change_id, f"{index:04d}", pack_json(entry.model_dump(mode="json"))))

    def of_upload(self, upload_id: str) -> list[ProvisioningLogEntry]:
        return [ProvisioningLogEntry.model_validate(unpack_json(e.properties)) for e in self.table.query(upload_id)]


class RateCounter:
    """Calls per fixed window, shared by every instance through the store."""

    def __init__(self, store: TableStore):
        self.table = store.table("ratelimits")

    def count(self, key: str, window: int) -> int:
        """Add one call to the window and return the window's count."""
        written = read_modify_write(self.table, key, f"{window:012d}",
                                    lambda entity: {"count": (entity.properties["count"] if entity else 0) + 1})
        if written is None:
            return 1 << 30  # under this much contention the caller is surely over the rate
        if written["count"] == 1:
            self._forget_before(key, window)
        return written["count"]

    def _forget_before(self, key: str, window: int) -> None:
        for old in list(self.table.query(key, end=f"{window:012d}")):
            self.table.delete(key, old.row_key)
