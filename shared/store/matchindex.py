"""The matcher's entities (docs/matching.md).

- `personmatch`: partition = a blocking key (`shared.matching.blocking`), row = person id,
  property `p` = the person's packed matching profile: a query reads its few blocks and
  scores from them, never the registry and never the person documents.
- `matchcounts`: how many persons hold a given or family name (partition `given` /
  `family`, row = the name form), and the registry's size in 16 shards (partition
  `persons`), for frequency-adjusted weights. Counts are statistics: a crash between the
  person's write and a count's may leave one off by one, which moves a weight by far
  less than a threshold's margin; nothing else reads them.
"""

from __future__ import annotations

from collections.abc import Iterator

from shared.matching.blocking import keys
from shared.matching.profile import Profile
from shared.store.contention import read_modify_write
from shared.store.port import Entity, TableStore

SHARDS = 16


class MatchIndex:
    def __init__(self, store: TableStore):
        self.blocks = store.table("personmatch")
        self.counts = store.table("matchcounts")

    def file(self, person_id: str, before: Profile | None, after: Profile | None, rewrite: bool = False) -> None:
        """File the person under `after`'s keys (new entries first, then stale ones go:
        a reader never misses the person) and keep the counts; `after` None removes.
        `rewrite` writes the entries even when nothing changed (a replay heals a crash)."""
        new_keys = keys(after) if after else set()
        old_keys = keys(before) if before else set()
        if after is not None and (rewrite or after != before or after.sources != before.sources):
            packed = after.pack()
            for key in sorted(new_keys):
                self.blocks.upsert(Entity(key, person_id, {"p": packed}))
        for key in sorted(old_keys - new_keys):
            self.blocks.delete(key, person_id)
        self._count(before, after, person_id)

    def rows(self, key: str, limit: int) -> Iterator[tuple[str, str]]:
        """(person id, packed profile) of one block, at most `limit`."""
        for entity in self.blocks.query(key, limit=limit):
            yield entity.row_key, entity.properties["p"]

    def frequency(self, field: str, value: str) -> int:
        entity = self.counts.get(field, value) if value else None
        return entity.properties["n"] if entity else 0

    def registry_size(self) -> int:
        return sum(e.properties["n"] for e in self.counts.query("persons"))

    def _count(self, before: Profile | None, after: Profile | None, person_id: str) -> None:
        if (before is None) != (after is None):
            self._add("persons", person_id[:1] if person_id[:1] else "0", 1 if after else -1)
        for field in ("given", "family"):
            old, new = getattr(before, field, ""), getattr(after, field, "")
            if old != new:
                if old:
                    self._add(field, old, -1)
                if new:
                    self._add(field, new, 1)

    def _add(self, partition: str, row: str, delta: int) -> None:
        """Add to a counter under optimistic concurrency (a lost race retries; the counts are
        approximate, docs/matching.md)."""
        read_modify_write(self.counts, partition, row,
                          lambda current: {"n": max((current.properties["n"] if current else 0) + delta, 0)})
