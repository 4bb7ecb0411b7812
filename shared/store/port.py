"""The TableStore port: what Roster needs of Azure Table Storage, and nothing more.

Both adapters (`sqlite`, `azure_tables`) implement `Table` with the same behaviour, proven
by one contract suite. Keys may hold any characters: adapters encode them (see `keys`).
Property values are flat: str, int, float, bool, bytes, tz-aware datetime, or None
(None means "absent"). Nested values must be JSON-encoded by the caller (`pack_json`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from shared.errors import DocumentTooLarge

MAX_STRING_BYTES = 64 * 1024  # UTF-16 encoded, as Table Storage counts
MAX_BINARY_BYTES = 64 * 1024
MAX_ENTITY_BYTES = 1024 * 1024
MAX_PROPERTIES = 252  # user properties (plus PartitionKey, RowKey, Timestamp)
MAX_BATCH = 100
MAX_BATCH_BYTES = 4 * 1024 * 1024  # a transaction's request body, as sent (multipart, JSON)
# What one operation adds to a transaction besides its JSON body and its URL-quoted keys
# (multipart headers, request line, ETag): an upper bound of what azure-data-tables sends.
BATCH_PART_BYTES = 1024
MAX_KEY_BYTES = 1024  # PartitionKey / RowKey after encoding, UTF-16
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class StoreError(Exception):
    """Base of every store failure."""


class EntityNotFound(StoreError):
    """The entity does not exist (get returns None instead; replace/delete raise this)."""


class EntityExists(StoreError):
    """insert found an entity with the same keys."""


class ETagMismatch(StoreError):
    """replace/delete with an ETag that is no longer current (someone else changed it)."""


class PropertyTooLarge(StoreError, DocumentTooLarge):
    """A value or the entity exceeds a Table Storage limit; nothing was written (a 413 to
    whoever asked for the write)."""


class InvalidEntity(StoreError):
    """A property of a type Table Storage cannot hold (nested, naive datetime, ...)."""


class BatchTooLarge(StoreError, ValueError):
    """More than 100 operations (or ~4 MiB) in one batch; nothing was applied."""


class BatchFailed(StoreError):
    """One operation of a batch failed; no operation of the batch was applied."""

    def __init__(self, index: int, cause: StoreError):
        super().__init__(f"batch operation {index} failed: {cause}")
        self.index = index
        self.cause = cause


@dataclass
class Entity:
    partition_key: str
    row_key: str
    properties: dict[str, Any] = field(default_factory=dict)
    etag: str | None = None


@dataclass(frozen=True)
class Op:
    """One operation of a batch. `etag` applies to replace/delete (None = unconditional).

    Unlike `Table.delete`, a batch delete of a missing entity fails (EntityNotFound), as in
    Table Storage; a RowKey may appear only once per batch.
    """

    kind: Literal["insert", "upsert", "replace", "delete"]
    entity: Entity
    etag: str | None = None


class Table(Protocol):
    name: str

    def get(self, partition_key: str, row_key: str) -> Entity | None: ...

    def insert(self, entity: Entity) -> Entity:
        """Create; raises EntityExists. Returns the entity with its new etag."""

    def upsert(self, entity: Entity) -> Entity:
        """Create or replace whole (properties not given are removed)."""

    def replace(self, entity: Entity, etag: str | None) -> Entity:
        """Replace an existing entity; with an etag only if still current (ETagMismatch)."""

    def delete(self, partition_key: str, row_key: str, etag: str | None = None) -> None:
        """Delete; missing entity is not an error unless an etag was given (EntityNotFound)."""

    def query(
        self,
        partition_key: str,
        *,
        prefix: str | None = None,
        start: str | None = None,
        end: str | None = None,
        equals: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> Iterator[Entity]:
        """Entities of one partition in RowKey order.

        `prefix`: RowKey starts with it. `start` (inclusive) / `end` (exclusive): RowKey range.
        `equals`: property == value for each item, sent as parameters, never concatenated.
        """

    def batch(self, partition_key: str, ops: list[Op]) -> list[Entity]:
        """Apply ≤ 100 operations on one partition atomically; raises BatchFailed."""


class TableStore(Protocol):
    def table(self, name: str) -> Table:
        """The named table, created if missing (names: letters and digits, 3-63 chars)."""

    def unit_of_work(self) -> AbstractContextManager[None]:
        """Writes in the block commit together where the store can: on SQLite one transaction,
        each write or batch a savepoint of it (a refused batch rolls back only itself and raises
        as before); on Table Storage each batch commits on its own. Leaving the block by an
        exception keeps what was written but runs no after-commit action. Nested units join
        the outer one."""

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run `action` once what was written so far is durable: at once outside a unit, after
        its commit inside one (what a unit wrote must not be announced before it exists)."""

    def before_commit(self, action: Callable[[], None]) -> bool:
        """Inside a unit that commits as one (SQLite): run `action` just before the unit
        commits — also when its block raised, since what it wrote commits too — with its
        writes in the unit; an exception from `action` rolls the whole unit back and is
        raised. True when deferred so; False (nothing registered) outside a unit, or where
        each batch commits on its own (Table Storage): the caller writes what must precede
        its batch itself."""

    def close(self) -> None: ...


def utc(value: datetime) -> datetime:
    """Normalise a tz-aware datetime to UTC; refuse naive ones."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidEntity("naive datetime: Table Storage would read it as local time")
    return value.astimezone(UTC)
