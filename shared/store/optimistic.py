"""An optimistic unit of work on the embedded store: compute without the write lock, commit
after checking that nothing read has changed (docs/architecture.md, "The optimistic unit").

`OptimisticUnit` is a TableStore over a `SqliteStore`. While a unit is computed (the bulk
load's chunk, shared/services/bulk.py), every read the real store answers is served by a
plain autocommit read — no transaction, no lock — and RECORDED: a `get` as the key's etag
(or its absence), a `query` as the exact call and the [(RowKey, etag)] it returned. Writes
are checked as the port says (shared/store/validation.py, EntityExists, ETagMismatch,
EntityNotFound, BatchFailed with its index; a refused write or batch leaves nothing) and
BUFFERED in an overlay per key with the etag they return; later reads of the unit see the
overlay first, queries merge it into the real rows in RowKey order. One check waits for the
commit: an insert of a key the unit has neither read nor written reads nothing then (a new
person's rows are all such keys) but is recorded as a read of the key's absence — a key that
exists is then a `Conflict`, and the classic redo refuses the insert where the serial path does.

`commit()` opens the real unit (BEGIN IMMEDIATE: the write lock), re-reads every recorded
read and compares. Any difference raises `Conflict` (so does a key the computation itself read
otherwise than first recorded — it saw the key both ways): nothing is written, no action runs,
and the caller redoes the work the classic way, under the lock. Otherwise the overlay is
written with the very etags the computation was given, the unit turns into a pass-through
to the real store, and its deferred before-commit actions (their writes join the real
transaction; one that fails rolls it all back) and after-commit actions are handed to the
real unit, which then commits.

Why this is serializable (standard optimistic concurrency control): the computation is a
deterministic function of what its reads returned (clock and new ids aside, which do not
depend on the store). If every read returns the same under the lock as it did while
computing, the computation is exactly the one that would have run under the lock at that
moment, and its writes land in that same moment. A query is compared whole, so a row that
appeared in a range read (a phantom) is a difference too.

Tables named in `unvalidated` are read through but never re-checked: `matchcounts` holds
name frequencies and the registry's size for the matcher's weights — statistics, never an
input that grants or keeps access — and its counters are written after the commit by
read-modify-write under optimistic concurrency (shared/store/matchindex.py), so a count
read while computing may be a few persons old, as it may on any concurrent path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from .keys import decode_key, encode_key
from .port import BatchFailed, Entity, EntityExists, EntityNotFound, ETagMismatch, Op, StoreError
from .sqlite import SqliteStore, SqliteTable, _etag
from .validation import check_batch, check_entity, check_equals, matches

_OPEN, _COMMITTED, _SPENT = "open", "committed", "spent"  # spent: its commit failed, nothing written
_Key = tuple[str, str]  # encoded (PartitionKey, RowKey)


class Conflict(StoreError):
    """A read of an optimistic unit changed before it committed; nothing was written.
    `table`: the table read (to name without its keys, which may be personal data)."""

    def __init__(self, table: str, detail: str):
        super().__init__(table, detail)
        self.table = table

    def __str__(self) -> str:
        return f"{self.table}: {self.args[1]}"


class OptimisticUnit:
    """A TableStore over a SqliteStore whose writes are buffered until `commit()` (see the
    module docstring). Used once; safe to share between threads while computing."""

    def __init__(self, store: SqliteStore, unvalidated: Collection[str] = ("matchcounts",)):
        self.store = store
        self.unvalidated = frozenset(name.lower() for name in unvalidated)
        self.state = _OPEN
        self.durable = False  # True once the real COMMIT has happened (an exception after it wrote all)
        self.lock = threading.RLock()
        self._views: dict[str, _View] = {}  # by the name asked
        self._by_table: dict[SqliteTable, _View] = {}
        self._before: list[Callable[[], None]] = []
        self._after: list[Callable[[], None]] = []

    def table(self, name: str) -> _View:
        """The named table as this unit sees it (its buffered writes over the real rows)."""
        view = self._views.get(name)
        if view is None:
            real = self.store.table(name)  # one per table whatever the case of its name
            with self.lock:
                view = self._by_table.get(real) or _View(self, real, name.lower() not in self.unvalidated)
                self._views[name] = self._by_table[real] = view
        return view

    def unit_of_work(self) -> AbstractContextManager[None]:
        """Joins: this unit IS the open unit (nothing commits on exit); once committed, the
        real store's unit of work."""
        return nullcontext() if self.state == _OPEN else self.store.unit_of_work()

    def before_commit(self, action: Callable[[], None]) -> bool:
        """Deferred to `commit()`, which hands it to the real unit (True)."""
        if self.state != _OPEN:
            return self.store.before_commit(action)
        with self.lock:
            self._before.append(action)
        return True

    def after_commit(self, action: Callable[[], None]) -> None:
        """Deferred: run after the real commit, as SqliteStore does."""
        if self.state != _OPEN:
            self.store.after_commit(action)
            return
        with self.lock:
            self._after.append(action)

    def commit(self, run_after: bool = True) -> None:
        """Re-validate every recorded read under the write lock and write the buffered rows,
        or raise Conflict having written nothing. `run_after=False` drops the after-commit
        actions (a unit left by an exception runs none). A second commit is an error."""
        with self.lock:
            if self.state != _OPEN:
                raise StoreError("an optimistic unit commits once")
            try:
                with self.store.unit_of_work():
                    self._apply()
                    for action in self._before:
                        self.store.before_commit(action)
                    self.store.after_commit(self._made_durable)  # the first action after COMMIT
                    for action in self._after if run_after else ():
                        self.store.after_commit(action)
            except Conflict:
                raise
            except BaseException:
                if not self.durable:
                    self.state = _SPENT  # nothing of it was written: see _apply
                raise  # durable: an after-commit action failed, as it may after any unit

    def _made_durable(self) -> None:
        self.durable = True

    def _apply(self) -> None:
        """Inside the real unit: validate every view, then write them all in one savepoint
        (a write that fails rolls the others back before the unit commits, so no part of the
        overlay is ever committed alone); then pass through to the real store."""
        views = list(self._by_table.values())
        for view in views:
            view.validate()
        self.store.atomically(lambda _conn: [view.flush() for view in views])
        self.state = _COMMITTED

    def close(self) -> None:
        """Nothing: the real store belongs to the caller."""


class _View:
    """One table of an OptimisticUnit: the overlay of its buffered writes and its recorded reads."""

    def __init__(self, unit: OptimisticUnit, real: SqliteTable, validated: bool):
        self.name = real.name
        self.backing = real  # the stored table: read through, and what per-table caches key on (they outlive the unit)
        self._unit = unit
        self._validated = validated
        self._overlay: dict[str, dict[str, Entity | None]] = {}  # pk → rk → entity, None: deleted
        self._reads: dict[_Key, str | None] = {}  # key → etag as first read (None: absent)
        self._queries: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = []
        self._contradicted: _Key | None = None  # a key read otherwise than first recorded

    # -- reads ---------------------------------------------------------------------------

    def get(self, partition_key: str, row_key: str) -> Entity | None:
        if self._unit.state != _OPEN:
            return self.backing.get(partition_key, row_key)
        pk, rk = encode_key(partition_key, "PartitionKey"), encode_key(row_key, "RowKey")
        with self._unit.lock:
            return _copy(self._current(pk, rk, partition_key, row_key))

    def query(self, partition_key: str, **criteria: Any) -> Iterator[Entity]:
        """The real rows merged with the overlay's, in RowKey order, as the port's query."""
        if self._unit.state != _OPEN:
            return self.backing.query(partition_key, **criteria)
        pk = encode_key(partition_key, "PartitionKey")
        wanted = check_equals(criteria.get("equals"))
        with self._unit.lock:
            part = self._overlay.get(pk, {})
            asked = dict(criteria)
            if criteria.get("limit") is not None:  # each overlaid key can hide one real row
                asked["limit"] = criteria["limit"] + len(part)
            real = list(self.backing.query(partition_key, **asked))
            if self._validated:
                self._queries.append((partition_key, asked, [(e.row_key, e.etag) for e in real]))
            merged = {encode_key(e.row_key): e for e in real}
            merged.update((rk, e) for rk, e in part.items() if _within(rk, criteria))
            rows = [_copy(merged[rk]) for rk in sorted(merged) if merged[rk] is not None]
        rows = [e for e in rows if matches(e.properties, wanted)]
        return iter(rows if criteria.get("limit") is None else rows[: criteria["limit"]])

    def _current(self, pk: str, rk: str, partition_key: str, row_key: str) -> Entity | None:
        """The entity as this unit sees it; a read of the real store is recorded."""
        part = self._overlay.get(pk)
        if part is not None and rk in part:
            return part[rk]
        entity = self.backing.get(partition_key, row_key)
        etag = None if entity is None else entity.etag
        if self._reads.setdefault((pk, rk), etag) != etag:  # it changed since first recorded
            self._contradicted = (pk, rk)  # the computation saw both: it cannot commit
        return entity

    def _etag(self, pk: str, rk: str, absent_unless_known: bool = False) -> str | None:
        """The entity's etag as this unit sees it, None when absent (reading no properties;
        a key read before answers from the record: had it changed, the commit conflicts).
        `absent_unless_known` (an insert): a key neither buffered nor read is not read now
        but recorded as absent — the commit checks it, as any read."""
        part = self._overlay.get(pk)
        if part is not None and rk in part:
            entity = part[rk]
            return None if entity is None else entity.etag
        if (pk, rk) not in self._reads:
            if absent_unless_known and self._validated:
                self._reads[(pk, rk)] = None
            else:
                self._probe([(pk, rk)])
        return self._reads[(pk, rk)]

    def _probe(self, keys: list[_Key]) -> None:
        """Record the real etags of the keys neither buffered nor read yet, in one read."""
        part = self._overlay
        fresh = [(pk, rk) for pk, rk in keys if (pk, rk) not in self._reads and rk not in part.get(pk, {})]
        if fresh:
            self._reads.update(zip(fresh, self.backing.etags(fresh), strict=True))

    # -- writes --------------------------------------------------------------------------

    def insert(self, entity: Entity) -> Entity:
        return self._write("insert", entity, None)

    def upsert(self, entity: Entity) -> Entity:
        return self._write("upsert", entity, None)

    def replace(self, entity: Entity, etag: str | None) -> Entity:
        return self._write("replace", entity, etag)

    def delete(self, partition_key: str, row_key: str, etag: str | None = None) -> None:
        if self._unit.state != _OPEN:
            self.backing.delete(partition_key, row_key, etag)
            return
        self._writable()
        pk, rk = encode_key(partition_key, "PartitionKey"), encode_key(row_key, "RowKey")
        with self._unit.lock:
            if etag is not None:  # unconditional: a blind write, nothing read
                self._checked("delete", pk, rk, partition_key, etag)
            self._overlay.setdefault(pk, {})[rk] = None

    def batch(self, partition_key: str, ops: list[Op]) -> list[Entity]:
        """≤ 100 operations on one partition, all buffered or none (BatchFailed names the first refused)."""
        if self._unit.state != _OPEN:
            return self.backing.batch(partition_key, ops)
        self._writable()
        checked = check_batch(partition_key, ops)
        if not checked:
            return []
        with self._unit.lock:
            self._probe([(pk, rk) for (op, (pk, rk, _)) in zip(ops, checked, strict=True)
                         if op.kind not in ("upsert", "insert")])
            results = []
            for index, (op, (pk, rk, props)) in enumerate(zip(ops, checked, strict=True)):
                try:
                    self._checked(op.kind, pk, rk, partition_key, op.etag)
                except StoreError as exc:
                    raise BatchFailed(index, exc) from exc
                etag = None if op.kind == "delete" else _etag()
                results.append(Entity(partition_key, op.entity.row_key, props, etag))
            part = self._overlay.setdefault(checked[0][0], {})
            for op, (_, rk, props), result in zip(ops, checked, results, strict=True):
                part[rk] = None if op.kind == "delete" else Entity(partition_key, op.entity.row_key, dict(props), result.etag)
        return results

    def _writable(self) -> None:
        """A table whose reads are not re-checked (statistics) is never written by an open unit:
        its writes would rest on reads nobody validates. (The matcher counts after the commit.)"""
        if not self._validated:
            raise StoreError(f"{self.name} is not written inside an optimistic unit (its reads are not re-checked)")

    def _write(self, kind: str, entity: Entity, etag: str | None) -> Entity:
        """A single insert, upsert or replace: checked, then buffered with its new etag."""
        if self._unit.state != _OPEN:
            real = self.backing
            return real.replace(entity, etag) if kind == "replace" else getattr(real, kind)(entity)
        self._writable()
        pk, rk, props = check_entity(entity)
        with self._unit.lock:
            self._checked(kind, pk, rk, entity.partition_key, etag)
            written = Entity(entity.partition_key, entity.row_key, props, _etag())
            self._overlay.setdefault(pk, {})[rk] = Entity(written.partition_key, written.row_key, dict(props), written.etag)
        return written

    def _checked(self, kind: str, pk: str, rk: str, partition_key: str, etag: str | None) -> None:
        """Refuse a write as the real store would, from the entity as this unit sees it
        (an upsert reads nothing: it is blind; an unconditional single delete is not checked)."""
        if kind == "upsert":
            return
        current = self._etag(pk, rk, absent_unless_known=kind == "insert")
        if kind == "insert":
            if current is not None:
                raise EntityExists(f"entity ({partition_key!r}, {decode_key(rk)!r}) exists")
        elif current is None:
            raise EntityNotFound(f"no entity ({partition_key!r}, {decode_key(rk)!r})")
        elif etag is not None and current != etag:
            raise ETagMismatch(f"entity ({partition_key!r}, {decode_key(rk)!r}) changed")

    # -- commit --------------------------------------------------------------------------

    def validate(self) -> None:
        """Conflict unless every recorded read returns the same now (under the write lock);
        the reads of an unvalidated table are not checked."""
        if not self._validated:
            return
        if self._contradicted is not None:
            raise Conflict(self.name, f"entity {tuple(map(decode_key, self._contradicted))!r} changed while computing")
        now = self.backing.etags(list(self._reads))
        for (key, then), current in zip(self._reads.items(), now, strict=True):
            if current != then:
                raise Conflict(self.name, f"entity {tuple(map(decode_key, key))!r} changed")
        for partition_key, asked, then in self._queries:
            if [(e.row_key, e.etag) for e in self.backing.query(partition_key, **asked)] != then:
                raise Conflict(self.name, f"a query of partition {partition_key!r} answers otherwise")

    def flush(self) -> None:
        """Write the overlay into the real unit: each key's last state with its etag."""
        rows, gone = [], []
        for pk, part in self._overlay.items():
            for rk, entity in part.items():
                if entity is None:
                    gone.append((pk, rk))
                else:
                    rows.append((pk, rk, entity.properties, entity.etag))
        if rows or gone:
            self.backing.restore(rows, gone)


def _copy(entity: Entity | None) -> Entity | None:
    """A copy the caller may change without changing the overlay."""
    if entity is None:
        return None
    return Entity(entity.partition_key, entity.row_key, dict(entity.properties), entity.etag)


def _within(rk: str, criteria: dict[str, Any]) -> bool:
    """Whether an encoded RowKey falls in a query's prefix/start/end (compared encoded, as stored)."""
    prefix, start, end = criteria.get("prefix"), criteria.get("start"), criteria.get("end")
    if prefix is not None and not rk.startswith(encode_key(prefix, "prefix")):
        return False
    if start is not None and rk < encode_key(start, "start"):
        return False
    return end is None or rk < encode_key(end, "end")
