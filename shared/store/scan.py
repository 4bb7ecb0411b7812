"""Reading one partition page by page: `scan` yields its entities in RowKey order from
`start` (inclusive), querying the store `chunk` rows at a time, so a caller that stops after
one page of a list has read about one page (the paging of list routes, shared/services/paging.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shared.store.port import Entity

DEFAULT_CHUNK = 101


def scan(table: Any, partition: str, *, start: str | None = None, prefix: str | None = None,
         chunk: int = DEFAULT_CHUNK) -> Iterator[Entity]:
    """The partition's entities (with `prefix`, those only) from `start` on, in RowKey order."""
    chunk = max(1, chunk)
    while True:
        rows = list(table.query(partition, prefix=prefix, start=start, limit=chunk + 1))
        yield from rows[:chunk]
        if len(rows) <= chunk:
            return
        start = rows[chunk].row_key
