"""How a person becomes entities.

- `persons`: partition = person id; row `person` holds the document, `audit|…` rows its trail,
  `outbox|…` the messages its last change still has to publish (shared.store.outbox).
- `identifiers`: partition = source, row = source id (normalised, or its digest when too
  long for a key: `identifier_key`) → the person id (unique by insert).
- `personsearch`: partition = first two characters of a token, row = `token|person id`,
  so a text lookup reads a key range whose size depends on the matches, not on the registry;
  a token that begins another of the person's is not listed (`search.listed_tokens`).
- `directory`: partition = first two hex digits of the id, row = person id: everyone, for
  whole-registry work (a rule change, a preview) without a cross-partition scan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from shared.errors import DocumentTooLarge
from shared.models.person import Person
from shared.store.audit import audit_trail
from shared.store.documents import pack_json, unpack_json
from shared.store.keys import encode_key
from shared.store.port import (
    BatchFailed,
    Entity,
    EntityExists,
    Op,
    PropertyTooLarge,
    StoreError,
    TableStore,
)

PERSON_ROW = "person"


@dataclass(frozen=True)
class StoredPerson:
    person: Person
    etag: str


class PersonRepository:
    def __init__(self, store: TableStore):
        self.persons = store.table("persons")
        self.identifiers = store.table("identifiers")
        self.search_index = store.table("personsearch")
        self.directory = store.table("directory")

    def get(self, person_id: str) -> StoredPerson | None:
        entity = self.persons.get(person_id, PERSON_ROW)
        if entity is None:
            return None
        return StoredPerson(Person.model_validate(unpack_json(entity.properties)), entity.etag)

    def get_many(self, person_ids: Iterable[str]) -> Iterator[Person]:
        for person_id in person_ids:
            stored = self.get(person_id)
            if stored is not None:
                yield stored.person

    def owner_of(self, source: str, source_id: str, *given: tuple[str, str] | None) -> str | None:
        """The person holding `(source, source_id)`; else, for identifiers stored before
        they were normalised, the one holding a `given` spelling (None entries skipped)."""
        for pair in ((source, source_id), *given):
            if pair is None:
                continue
            try:
                entity = self.identifiers.get(pair[0], identifier_key(pair[1]))
            except StoreError:  # a legacy spelling that cannot be a key: never stored
                continue
            if entity is not None:
                return entity.properties["person_id"]
        return None

    def claim(self, source: str, source_id: str, person_id: str) -> str:
        """Bind an identifier to a person unless already bound; returns the owner."""
        try:
            props = {"person_id": person_id, "source_id": source_id}
            self.identifiers.insert(Entity(source, identifier_key(source_id), props))
            return person_id
        except EntityExists:
            return self.owner_of(source, source_id)

    def create(self, person: Person, audit: Entity, outbox: list[Op] = (), entity: Entity | None = None) -> None:
        """Insert the person with its first audit record (and the messages it causes, as
        outbox rows of the same batch); EntityExists if already there. `entity`: the person's
        entity as `check_fits` made it, when the person has not changed since."""
        self._write(person, audit, Op("insert", entity or self._entity(person)), outbox)

    def replace(self, person: Person, etag: str, audit: Entity | None, outbox: list[Op] = ()) -> None:
        """Replace if `etag` is still current (ETagMismatch otherwise), with an audit record."""
        self._write(person, audit, Op("replace", self._entity(person), etag), outbox)

    def trail(self, person_id: str) -> list[dict]:
        return list(audit_trail(self.persons, person_id))

    def index(self, person_id: str, added: set[str], removed: set[str]) -> None:
        """List the person in the directory and add search entries before removing stale
        ones: a reader never misses the person."""
        self.directory.upsert(Entity(person_id[:2], person_id, {}))
        for token in sorted(added):
            self.search_index.upsert(Entity(_bucket(token), f"{token}|{person_id}", {}))
        for token in sorted(removed):
            self.search_index.delete(_bucket(token), f"{token}|{person_id}")

    def all_ids(self) -> Iterator[str]:
        """Every registered person id, bucket by bucket (ids are hexadecimal)."""
        for bucket in range(256):
            for entity in self.directory.query(f"{bucket:02x}"):
                yield entity.row_key

    def ids_with_token_prefix(self, prefix: str, limit: int) -> set[str]:
        rows = self.search_index.query(_bucket(prefix), prefix=prefix, limit=limit)
        return {row.row_key.rsplit("|", 1)[1] for row in rows}

    def _write(self, person: Person, audit: Entity | None, op: Op, outbox: list[Op]) -> None:
        ops = [op] + ([Op("insert", audit)] if audit is not None else []) + list(outbox)
        try:
            self.persons.batch(person.id, ops)
        except BatchFailed as failure:
            raise failure.cause from None

    def check_fits(self, person: Person) -> Entity:
        """The person's entity; DocumentTooLarge (413) if the person would not fit one: checked
        before the first write, so a refused registration leaves nothing behind (not even a claim)."""
        return self._entity(person)

    @staticmethod
    def _entity(person: Person) -> Entity:
        try:
            props = pack_json(person.model_dump(mode="json"))
        except PropertyTooLarge as too_large:
            raise DocumentTooLarge(f"the person would be too large to store ({too_large})") from None
        props["version"] = person.version
        props["updated_at"] = person.updated_at
        return Entity(person.id, PERSON_ROW, props)


def identifier_key(source_id: str) -> str:
    """The row key of a source id: itself when it fits a key, else a digest (a source id of
    256 `/` is 768 characters once escaped). The digest starts with U+0001, which no source
    id can hold (control characters are refused), so the two forms never collide."""
    try:
        encode_key(source_id)
        return source_id
    except PropertyTooLarge:
        return "\x01sha256:" + hashlib.sha256(source_id.encode("utf-8", "surrogatepass")).hexdigest()


def _bucket(token: str) -> str:
    return token[:2]
