"""The self-healing sweep's own state (docs/architecture.md §10).

Table `sweep`, partition `sweep`: row `cursor` (the directory bucket and the last person id
checked, so each run continues where the last stopped) and row `last` (the figures of the
last run: persons checked, repairs by kind, when, how long, completed passes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from shared.store.port import Entity, EntityExists, ETagMismatch, TableStore

PARTITION = "sweep"


@dataclass(frozen=True)
class Cursor:
    bucket: int = 0
    after: str = ""
    passes: int = 0
    etag: str | None = None


class SweepRepository:
    def __init__(self, store: TableStore):
        self.table = store.table("sweep")
        self.directory = store.table("directory")

    def cursor(self) -> Cursor:
        entity = self.table.get(PARTITION, "cursor")
        if entity is None:
            return Cursor()
        p = entity.properties
        return Cursor(p["bucket"], p.get("after") or "", p.get("passes", 0), entity.etag)

    def advance(self, read: Cursor, to: Cursor) -> bool:
        """Move the cursor (If-Match); False when another sweep moved it first."""
        row = Entity(PARTITION, "cursor", {"bucket": to.bucket, "after": to.after, "passes": to.passes})
        try:
            if read.etag is None:
                self.table.insert(row)
            else:
                self.table.replace(row, read.etag)
            return True
        except (EntityExists, ETagMismatch):
            return False

    def next_persons(self, cursor: Cursor, limit: int) -> tuple[list[str], Cursor]:
        """Up to `limit` person ids after the cursor, bucket by bucket (wrapping once at the
        end: a completed pass), and the cursor after them."""
        ids: list[str] = []
        bucket, after, passes = cursor.bucket, cursor.after, cursor.passes
        for _ in range(257):
            rows = self.directory.query(f"{bucket:02x}", start=after or None, limit=limit - len(ids) + 1)
            ids += [e.row_key for e in rows if e.row_key != after][: limit - len(ids)]
            if len(ids) >= limit:
                return ids, Cursor(bucket, ids[-1], passes)
            bucket, after = (bucket + 1) % 256, ""
            if bucket == 0:
                passes += 1
                return ids, Cursor(0, "", passes)
        return ids, Cursor(bucket, after, passes)

    def record(self, figures: dict) -> None:
        self.table.upsert(Entity(PARTITION, "last", {"figures": json.dumps(figures, default=str)}))

    def last(self) -> dict | None:
        entity = self.table.get(PARTITION, "last")
        return None if entity is None else json.loads(entity.properties["figures"])
