"""The matcher's entities (docs/matching.md).

- `personmatch`: partition = a blocking key (`shared.matching.blocking`), row = person id,
  property `p` = the person's packed matching profile: a query reads its few blocks and
  scores from them, never the registry and never the person documents.
- `matchcounts`: how many persons hold a given or family name (partition `given` /
  `family`, row = the name form), and the registry's size in 16 shards (partition
  `persons`), for frequency-adjusted weights. Counts are statistics: nothing else reads
  them. Within a store unit of work (a bulk chunk) the counters read or changed are kept in
  a per-thread tally — a read sees the unit's own changes — and each is written once, after
  the unit commits (`TableStore.after_commit`; outside a unit at once). So a crash between
  a unit's commit and its counts leaves some counts short by the persons that unit wrote,
  which moves a weight by far less than a threshold's margin.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator

from shared.matching.blocking import keys
from shared.matching.profile import Profile
from shared.store.contention import read_modify_write
from shared.store.port import Entity, EntityExists, ETagMismatch, Table, TableStore

SHARDS = 16


class _Tally:
    """The counters one thread read or changed in the store's open unit of work: per
    (partition, row) the entity as read (None: not read, or absent) and the change since."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list] = {}  # [entity | None, read?, delta]
        self.joiners: str | None = None  # the registry-size shard this unit's joiners count in

    def flush(self, counts: Table) -> None:
        """Write each changed counter once: over the ETag read when there was one (one
        write), else or after a lost race by read-modify-write. Rows leave the tally as they
        are written, so an interrupted flush leaves the rest to the next."""
        self.joiners = None
        while self.rows:
            (partition, row), (entity, read, delta) = self.rows.popitem()
            if delta and not (read and _wrote(counts, partition, row, entity, delta)):
                read_modify_write(counts, partition, row, lambda current, p=partition, d=delta: {"n": _sum(p, current, d)})


def _sum(partition: str, entity: Entity | None, delta: int) -> int:
    """The counter after `delta`: a name's count never below zero; a registry-size shard may
    be (a person may leave from another shard than the one it joined in: the size is the sum)."""
    n = (entity.properties["n"] if entity else 0) + delta
    return n if partition == "persons" else max(n, 0)


def _wrote(counts: Table, partition: str, row: str, entity: Entity | None, delta: int) -> bool:
    """The counter written from its value as read; False when others wrote it since."""
    try:
        if entity is None:
            counts.insert(Entity(partition, row, {"n": _sum(partition, None, delta)}))
        else:
            counts.replace(Entity(partition, row, {"n": _sum(partition, entity, delta)}), entity.etag)
        return True
    except (ETagMismatch, EntityExists):
        return False


_tallies = threading.local()


class MatchIndex:
    def __init__(self, store: TableStore):
        self.store = store
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
        """How many persons hold `value` as their `field` name, the unit's own changes included."""
        if not value:
            return 0
        tally = self._tally()
        entry = tally.rows.get((field, value))
        if entry is None:
            entry = tally.rows[(field, value)] = [self.counts.get(field, value), True, 0]
            self._flush_after_commit(tally)
        elif not entry[1]:
            entry[0], entry[1] = self.counts.get(field, value), True
        return _sum(field, entry[0], entry[2])

    def registry_size(self) -> int:
        return sum(e.properties["n"] for e in self.counts.query("persons"))

    def _count(self, before: Profile | None, after: Profile | None, person_id: str) -> None:
        if (before is None) != (after is None):
            self._add("persons", self._shard(person_id, after is not None), 1 if after else -1)
        for field in ("given", "family"):
            old, new = getattr(before, field, ""), getattr(after, field, "")
            if old != new:
                if old:
                    self._add(field, old, -1)
                if new:
                    self._add(field, new, 1)

    def _add(self, partition: str, row: str, delta: int) -> None:
        """Add to a counter once the unit commits (at once outside a unit), under optimistic
        concurrency: a lost race retries; the counts are approximate (docs/matching.md)."""
        tally = self._tally()
        tally.rows.setdefault((partition, row), [None, False, 0])[2] += delta
        self._flush_after_commit(tally)

    def _shard(self, person_id: str, joining: bool) -> str:
        """The registry-size shard a person counts in: its id's first character; a joiner
        counts in the shard the unit's joiners already count in (the size is the shards'
        sum), so a unit writes one shard for all its joiners, however their ids fall."""
        own = person_id[:1] or "0"
        if not joining:
            return own
        tally = self._tally()
        tally.joiners = tally.joiners or own
        return tally.joiners

    def _tally(self) -> _Tally:
        """This thread's tally for this store."""
        by_store = getattr(_tallies, "by_store", None)
        if by_store is None:
            by_store = _tallies.by_store = weakref.WeakKeyDictionary()
        tally = by_store.get(self.store)
        if tally is None:
            tally = by_store[self.store] = _Tally()
        return tally

    def _flush_after_commit(self, tally: _Tally) -> None:
        """Flush once the unit commits. Asked again at every change, so a unit left by an
        exception (which runs no after-commit action) leaves its counts to the next flush."""
        self.store.after_commit(lambda: tally.flush(self.counts))
