"""TableStore on SQLite (WAL): one SQLite table per Roster table, a connection per thread.

The write path is the bulk load's hot path (docs/architecture.md §3): SQL text is built once
per table, a single write inside a unit of work runs straight on the unit's connection (no
transaction or context manager of its own), and the log is checkpointed off the writer's
thread (`shared.wal.Checkpointer`).
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import sqlite3
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from shared.wal import Checkpointer, ensure_wal, writer_pragmas

from .keys import decode_key, encode_key, prefix_end
from .port import BatchFailed, Entity, EntityExists, EntityNotFound, ETagMismatch, Op, StoreError
from .validation import check_batch, check_entity, check_equals, check_table_name, matches

PAGE = 500
CACHE_KIB = 32 * 1024  # each connection's page cache (SQLite's default: 2 MiB)
_encode_text = json.encoder.encode_basestring  # JSON string text (ensure_ascii=False), as JSONEncoder writes it
_HEADS: dict[str, str] = {}  # property name → its JSON text up to the tag: '"name":["'
_decode = json.JSONDecoder().decode
T = TypeVar("T")


def dump_props(properties: dict[str, Any]) -> str:
    """JSON with a type tag per value, so every type round-trips exactly: `{"name":[tag,
    value],...}`, the very text `json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))`
    writes for `{name: (tag, value)}` (tests/store/test_stored_text.py), put together here
    without its per-call set-up: the names Roster writes are few, their heads made once."""
    parts = []
    for name, value in properties.items():
        head = _HEADS.get(name)
        if head is None:
            head = f'{_encode_text(name)}:["'
            if len(_HEADS) < 4096:
                _HEADS[name] = head
        kind = type(value)
        if kind is str:
            parts.append(f'{head}s",{_encode_text(value)}]')
        elif kind is int:
            parts.append(f'{head}i",{int.__repr__(value)}]')
        elif kind is datetime:
            parts.append(f'{head}d","{value.isoformat()}"]')  # digits and -:.+T: nothing to escape
        else:
            parts.append(_rare(head, kind, value))
    return "{" + ",".join(parts) + "}"


def _rare(head: str, kind: type, value: Any) -> str:
    """A bool, float or bytes property's part of `dump_props`."""
    if kind is bool:
        return f'{head}b",{"true" if value else "false"}]'
    if kind is float:
        if value != value:
            return f'{head}f",NaN]'
        if value in (math.inf, -math.inf):
            return f'{head}f",{"Infinity" if value > 0 else "-Infinity"}]'
        return f'{head}f",{float.__repr__(value)}]'
    if kind is bytes:
        return f'{head}y","{base64.b64encode(value).decode("ascii")}"]'  # base64: nothing to escape
    raise KeyError(kind)  # check_value lets no other type through


def load_props(text: str) -> dict[str, Any]:
    """The properties written by `dump_props`."""
    properties = {}
    for name, (tag, value) in _decode(text).items():
        if tag == "s" or tag == "i" or tag == "b":
            properties[name] = value
        elif tag == "d":
            properties[name] = datetime.fromisoformat(value)
        elif tag == "f":
            properties[name] = float(value)
        else:
            properties[name] = base64.b64decode(value)
    return properties


_ETAG_PREFIX = uuid.uuid4().hex[:16]  # this process's; the counter makes each etag new
_etag_counter = itertools.count()


def _etag() -> str:
    """A new ETag: unique across processes (random prefix) and writes (counter)."""
    return f'W/"{_ETAG_PREFIX}{next(_etag_counter):x}"'


class SqliteStore:
    """TableStore in one SQLite file; safe to share between threads."""

    def __init__(self, path: str, timeout: float = 30.0):
        self.path = path
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._tables: dict[str, SqliteTable] = {}
        self._by_name: dict[str, SqliteTable] = {}
        self._closed = False
        self.checkpointer = Checkpointer(path, timeout=timeout)
        weakref.finalize(self, self.checkpointer.close)  # a store dropped unclosed stops it too
        ensure_wal(self.connection())

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; writes use explicit transactions)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreError("store is closed")
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            writer_pragmas(conn)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _committed(self, conn: sqlite3.Connection, commit: str = "COMMIT") -> None:
        """End a transaction (COMMIT) or a savepoint (RELEASE); a commit wakes the checkpointer."""
        conn.execute(commit)
        if commit == "COMMIT":
            self.checkpointer.wrote()

    def atomically(self, apply: Callable[[sqlite3.Connection], T]) -> T:
        """`apply(connection)` in a write transaction (BEGIN IMMEDIATE), rolled back on any
        exception; inside a unit of work in a savepoint of the unit's transaction instead."""
        conn = self.connection()
        begin, commit, undo = ("BEGIN IMMEDIATE", "COMMIT", ("ROLLBACK",))
        if self._unit() is not None:
            begin, commit, undo = ("SAVEPOINT w", "RELEASE w", ("ROLLBACK TO w", "RELEASE w"))
        try:
            conn.execute(begin)
            try:
                result = apply(conn)
                self._committed(conn, commit)
            except BaseException:
                if conn.in_transaction:
                    for statement in undo:
                        conn.execute(statement)
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc
        return result

    def written(self, apply: Callable[[sqlite3.Connection], T]) -> T:
        """A single write `apply(connection)`: inside a unit of work straight on the unit's
        connection (the unit holds the write lock, and a refused single write changes nothing
        before it raises), else in a transaction of its own."""
        if self._unit() is None:
            return self.atomically(apply)
        try:
            return apply(self.connection())
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """Every write of this thread in the block in one transaction (see the port); the
        after-commit actions run once it is committed, themselves in one unit."""
        if self._unit() is not None:
            yield  # nested: the outer unit commits
            return
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc
        self._local.unit, self._local.sealing = actions, sealing = [], []
        try:
            yield
        finally:
            self._sealed(conn, sealing)
            self._local.unit = None
            try:
                self._committed(conn)  # also after an exception: what was written stands
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreError(f"sqlite: {exc}") from exc
        if actions:  # not after an exception: the outbox relay's timer finds what they would publish
            with self.unit_of_work():
                for action in actions:
                    action()

    def _sealed(self, conn: sqlite3.Connection, sealing: list[Callable[[], None]]) -> None:
        """Run the unit's before-commit actions (their writes join it); one that fails rolls
        the unit back and raises (by the relay, for its outbox marks: shared/services/relay.py)."""
        try:
            for action in sealing:
                action()
        except BaseException:
            self._local.unit = None
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _unit(self) -> list[Callable[[], None]] | None:
        """This thread's open unit of work (its after-commit actions), or None."""
        return getattr(self._local, "unit", None)

    def after_commit(self, action: Callable[[], None]) -> None:
        actions = self._unit()
        if actions is None:
            action()
        else:
            actions.append(action)

    def before_commit(self, action: Callable[[], None]) -> bool:
        if self._unit() is None:
            return False
        self._local.sealing.append(action)
        return True

    def table(self, name: str) -> SqliteTable:
        known = self._by_name.get(name)  # the hot path: a table this store has opened
        if known is not None:
            return known
        key = check_table_name(name).lower()
        with self._lock:
            table = self._tables.get(key)
        if table is None:
            self.connection().execute(
                f'CREATE TABLE IF NOT EXISTS "t_{key}" (pk TEXT NOT NULL, rk TEXT NOT NULL,'
                " props TEXT NOT NULL, etag TEXT NOT NULL, PRIMARY KEY (pk, rk)) WITHOUT ROWID"
            )
            table = SqliteTable(self, name, f'"t_{key}"')
            with self._lock:
                table = self._tables.setdefault(key, table)
        self._by_name[name] = table
        return table

    def close(self) -> None:
        self.checkpointer.close()
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()


class SqliteTable:
    """One table of a SqliteStore."""

    def __init__(self, store: SqliteStore, name: str, sql_name: str):
        self.name = name
        self._store = store
        self._sql = sql_name
        keyed = "WHERE pk = ? AND rk = ?"
        self._get_sql = f"SELECT props, etag FROM {sql_name} {keyed}"
        self._exists_sql = f"SELECT 1 FROM {sql_name} {keyed}"
        self._insert_sql = f"INSERT INTO {sql_name} VALUES (?, ?, ?, ?)"
        self._upsert_sql = (
            f"{self._insert_sql} ON CONFLICT (pk, rk) DO UPDATE SET props = excluded.props, etag = excluded.etag"
        )
        self._update_sql = f"UPDATE {sql_name} SET props = ?, etag = ? {keyed}"
        self._delete_sql = f"DELETE FROM {sql_name} {keyed}"

    def get(self, partition_key: str, row_key: str) -> Entity | None:
        pk, rk = encode_key(partition_key, "PartitionKey"), encode_key(row_key, "RowKey")
        row = self._store.connection().execute(self._get_sql, (pk, rk)).fetchone()
        return None if row is None else Entity(partition_key, row_key, load_props(row[0]), row[1])

    def insert(self, entity: Entity) -> Entity:
        pk, rk, props = check_entity(entity)
        etag = self._store.written(lambda conn: self._insert(conn, pk, rk, props))
        return Entity(entity.partition_key, entity.row_key, props, etag)

    def upsert(self, entity: Entity) -> Entity:
        pk, rk, props = check_entity(entity)
        etag = self._store.written(lambda conn: self._upsert(conn, pk, rk, props))
        return Entity(entity.partition_key, entity.row_key, props, etag)

    def replace(self, entity: Entity, etag: str | None) -> Entity:
        pk, rk, props = check_entity(entity)
        new_etag = self._store.written(lambda conn: self._replace(conn, pk, rk, props, etag))
        return Entity(entity.partition_key, entity.row_key, props, new_etag)

    def delete(self, partition_key: str, row_key: str, etag: str | None = None) -> None:
        pk, rk = encode_key(partition_key, "PartitionKey"), encode_key(row_key, "RowKey")
        self._store.written(lambda conn: self._delete(conn, pk, rk, etag, must_exist=etag is not None))

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
        pk = encode_key(partition_key, "PartitionKey")
        wanted = check_equals(equals)
        where, params = ["pk = ?"], [pk]
        prefix_enc = None
        if prefix is not None:
            prefix_enc = encode_key(prefix, "prefix")
            where.append("rk >= ?")
            params.append(prefix_enc)
            upper = prefix_end(prefix_enc)
            if upper is not None:
                where.append("rk < ?")
                params.append(upper)
        if start is not None:
            where.append("rk >= ?")
            params.append(encode_key(start, "start"))
        if end is not None:
            where.append("rk < ?")
            params.append(encode_key(end, "end"))
        return self._pages(partition_key, where, params, prefix_enc, wanted, limit)

    def _pages(
        self,
        partition_key: str,
        where: list[str],
        params: list[str],
        prefix_enc: str | None,
        wanted: dict[str, Any],
        limit: int | None,
    ) -> Iterator[Entity]:
        count, after = 0, None
        while limit is None or count < limit:
            clauses, args = list(where), list(params)
            if after is not None:
                clauses.append("rk > ?")
                args.append(after)
            sql = f"SELECT rk, props, etag FROM {self._sql} WHERE {' AND '.join(clauses)}"
            rows = (
                self._store.connection().execute(f"{sql} ORDER BY rk LIMIT {PAGE}", args).fetchall()
            )
            for rk, props, etag in rows:
                if prefix_enc is not None and not rk.startswith(prefix_enc):
                    continue
                properties = load_props(props)
                if matches(properties, wanted):
                    yield Entity(partition_key, decode_key(rk), properties, etag)
                    count += 1
                    if limit is not None and count >= limit:
                        return
            if len(rows) < PAGE:
                return
            after = rows[-1][0]

    def etags(self, keys: list[tuple[str, str]]) -> list[str | None]:
        """The current etag of each encoded (pk, rk), None where absent, reading no properties:
        one statement per partition and 500 keys (an optimistic unit's checks and
        re-validation: shared/store/optimistic.py)."""
        by_partition: dict[str, list[str]] = {}
        for pk, rk in keys:
            by_partition.setdefault(pk, []).append(rk)
        conn, found = self._store.connection(), {}
        for pk, rks in by_partition.items():
            for start in range(0, len(rks), PAGE):
                some = rks[start:start + PAGE]
                sql = f"SELECT rk, etag FROM {self._sql} WHERE pk = ? AND rk IN ({','.join('?' * len(some))})"
                found.update(((pk, rk), etag) for rk, etag in conn.execute(sql, (pk, *some)))
        return [found.get(key) for key in keys]

    def restore(self, rows: list[tuple[str, str, dict[str, Any], str]], gone: list[tuple[str, str]]) -> None:
        """Write each (encoded pk, encoded rk, checked properties, etag) as given — the etag
        an optimistic unit already returned for it — and delete the encoded keys `gone`."""

        def apply(conn: sqlite3.Connection) -> None:
            conn.executemany(self._upsert_sql, [(pk, rk, dump_props(props), etag) for pk, rk, props, etag in rows])
            conn.executemany(self._delete_sql, gone)

        self._store.written(apply)

    def batch(self, partition_key: str, ops: list[Op]) -> list[Entity]:
        checked = check_batch(partition_key, ops)
        return self._store.atomically(lambda conn: self._batch(conn, partition_key, ops, checked))

    def _batch(
        self, conn: sqlite3.Connection, partition_key: str, ops: list[Op], checked: list[tuple[str, str, dict]]
    ) -> list[Entity]:
        """The operations of a batch in order, inside its transaction; BatchFailed names the first refused."""
        results = []
        for index, (op, (pk, rk, props)) in enumerate(zip(ops, checked, strict=True)):
            kind = op.kind
            try:
                if kind == "insert":
                    etag = self._insert(conn, pk, rk, props)
                elif kind == "upsert":
                    etag = self._upsert(conn, pk, rk, props)
                elif kind == "replace":
                    etag = self._replace(conn, pk, rk, props, op.etag)
                else:
                    etag = self._delete(conn, pk, rk, op.etag, must_exist=True)
            except StoreError as exc:
                raise BatchFailed(index, exc) from exc
            results.append(Entity(partition_key, op.entity.row_key, props, etag))
        return results

    def _insert(self, conn: sqlite3.Connection, pk: str, rk: str, props: dict[str, Any]) -> str:
        """Insert inside a transaction; the new etag, or EntityExists."""
        etag = _etag()
        try:
            conn.execute(self._insert_sql, (pk, rk, dump_props(props), etag))
        except sqlite3.IntegrityError:
            raise EntityExists(f"entity ({decode_key(pk)!r}, {decode_key(rk)!r}) exists") from None
        return etag

    def _upsert(self, conn: sqlite3.Connection, pk: str, rk: str, props: dict[str, Any]) -> str:
        """Insert or replace whole inside a transaction; the new etag."""
        etag = _etag()
        conn.execute(self._upsert_sql, (pk, rk, dump_props(props), etag))
        return etag

    def _replace(
        self, conn: sqlite3.Connection, pk: str, rk: str, props: dict[str, Any], etag: str | None
    ) -> str:
        """Replace an existing entity (under `etag` when given) inside a transaction; the new etag."""
        new_etag = _etag()
        if etag is None:
            written = conn.execute(self._update_sql, (dump_props(props), new_etag, pk, rk))
        else:
            written = conn.execute(f"{self._update_sql} AND etag = ?", (dump_props(props), new_etag, pk, rk, etag))
        if written.rowcount != 1:
            self._missed(conn, pk, rk)
        return new_etag

    def _delete(self, conn: sqlite3.Connection, pk: str, rk: str, etag: str | None, *, must_exist: bool) -> None:
        """Delete inside a transaction (under `etag` when given); a missing entity is refused
        only when it `must_exist`."""
        if etag is None:
            written = conn.execute(self._delete_sql, (pk, rk))
        else:
            written = conn.execute(f"{self._delete_sql} AND etag = ?", (pk, rk, etag))
        if written.rowcount != 1 and (must_exist or self._exists(conn, pk, rk)):
            self._missed(conn, pk, rk)

    def _exists(self, conn: sqlite3.Connection, pk: str, rk: str) -> bool:
        return conn.execute(self._exists_sql, (pk, rk)).fetchone() is not None

    def _missed(self, conn: sqlite3.Connection, pk: str, rk: str) -> None:
        """Why a conditional write touched no row: ETagMismatch if the entity is there, else EntityNotFound."""
        if self._exists(conn, pk, rk):
            raise ETagMismatch(f"entity ({decode_key(pk)!r}, {decode_key(rk)!r}) changed")
        raise EntityNotFound(f"no entity ({decode_key(pk)!r}, {decode_key(rk)!r})")
