"""TableStore on SQLite (WAL): one SQLite table per Roster table, a connection per thread."""

from __future__ import annotations

import base64
import itertools
import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from shared.wal import ensure_wal

from .keys import decode_key, encode_key, prefix_end
from .port import BatchFailed, Entity, EntityExists, EntityNotFound, ETagMismatch, Op, StoreError
from .validation import check_batch, check_entity, check_equals, check_table_name, matches

PAGE = 500
_TAGS = {bool: "b", int: "i", float: "f", str: "s", bytes: "y", datetime: "d"}


def dump_props(properties: dict[str, Any]) -> str:
    """JSON with a type tag per value, so every type round-trips exactly."""
    tagged = {}
    for name, value in properties.items():
        tag = _TAGS[type(value)]
        if tag == "y":
            value = base64.b64encode(value).decode("ascii")
        elif tag == "d":
            value = value.isoformat()
        tagged[name] = [tag, value]
    return json.dumps(tagged, ensure_ascii=False, separators=(",", ":"))


def load_props(text: str) -> dict[str, Any]:
    """The properties written by `dump_props`."""
    properties = {}
    for name, (tag, value) in json.loads(text).items():
        if tag == "y":
            value = base64.b64decode(value)
        elif tag == "d":
            value = datetime.fromisoformat(value)
        elif tag == "f":
            value = float(value)
        properties[name] = value
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
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE), rolled back on any exception; inside a
        unit of work a savepoint of the unit's transaction instead."""
        conn = self.connection()
        begin, commit, undo = ("BEGIN IMMEDIATE", "COMMIT", ("ROLLBACK",))
        if self._unit() is not None:
            begin, commit, undo = ("SAVEPOINT w", "RELEASE w", ("ROLLBACK TO w", "RELEASE w"))
        try:
            conn.execute(begin)
            try:
                yield conn
                conn.execute(commit)
            except BaseException:
                if conn.in_transaction:
                    for statement in undo:
                        conn.execute(statement)
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A single write's transaction; inside a unit of work none of its own (the unit holds
        the write lock, and a refused single write changes nothing before it raises)."""
        if self._unit() is None:
            with self.transaction() as conn:
                yield conn
            return
        try:
            yield self.connection()
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
                conn.execute("COMMIT")  # also after an exception: what was written stands
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

    def get(self, partition_key: str, row_key: str) -> Entity | None:
        pk, rk = encode_key(partition_key, "PartitionKey"), encode_key(row_key, "RowKey")
        row = (
            self._store.connection()
            .execute(f"SELECT props, etag FROM {self._sql} WHERE pk = ? AND rk = ?", (pk, rk))
            .fetchone()
        )
        return None if row is None else Entity(partition_key, row_key, load_props(row[0]), row[1])

    def insert(self, entity: Entity) -> Entity:
        return self._single("insert", entity, None)

    def upsert(self, entity: Entity) -> Entity:
        return self._single("upsert", entity, None)

    def replace(self, entity: Entity, etag: str | None) -> Entity:
        return self._single("replace", entity, etag)

    def delete(self, partition_key: str, row_key: str, etag: str | None = None) -> None:
        pk, rk = encode_key(partition_key, "PartitionKey"), encode_key(row_key, "RowKey")
        with self._store.write() as conn:
            self._apply(conn, "delete", pk, rk, {}, etag, must_exist=etag is not None)

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

    def batch(self, partition_key: str, ops: list[Op]) -> list[Entity]:
        checked = check_batch(partition_key, ops)
        results = []
        with self._store.transaction() as conn:
            for index, (op, (pk, rk, props)) in enumerate(zip(ops, checked, strict=True)):
                try:
                    etag = self._apply(conn, op.kind, pk, rk, props, op.etag, must_exist=True)
                except StoreError as exc:
                    raise BatchFailed(index, exc) from exc
                results.append(Entity(partition_key, op.entity.row_key, props, etag))
        return results

    def _single(self, kind: str, entity: Entity, etag: str | None) -> Entity:
        pk, rk, props = check_entity(entity)
        with self._store.write() as conn:
            new_etag = self._apply(conn, kind, pk, rk, props, etag, must_exist=True)
        return Entity(entity.partition_key, entity.row_key, props, new_etag)

    def _apply(
        self,
        conn: sqlite3.Connection,
        kind: str,
        pk: str,
        rk: str,
        props: dict[str, Any],
        etag: str | None,
        *,
        must_exist: bool,
    ) -> str | None:
        """One write inside a transaction; the new etag (None after a delete)."""
        new_etag = _etag()
        if kind == "insert":
            try:
                conn.execute(
                    f"INSERT INTO {self._sql} VALUES (?, ?, ?, ?)",
                    (pk, rk, dump_props(props), new_etag),
                )
            except sqlite3.IntegrityError:
                raise EntityExists(
                    f"entity ({decode_key(pk)!r}, {decode_key(rk)!r}) exists"
                ) from None
            return new_etag
        if kind == "upsert":
            conn.execute(
                f"INSERT INTO {self._sql} VALUES (?, ?, ?, ?) ON CONFLICT (pk, rk)"
                " DO UPDATE SET props = excluded.props, etag = excluded.etag",
                (pk, rk, dump_props(props), new_etag),
            )
            return new_etag
        condition, args = ("", (pk, rk)) if etag is None else (" AND etag = ?", (pk, rk, etag))
        if kind == "delete":
            written, result = conn.execute(f"DELETE FROM {self._sql} WHERE pk = ? AND rk = ?{condition}", args), None
        else:
            written, result = conn.execute(
                f"UPDATE {self._sql} SET props = ?, etag = ? WHERE pk = ? AND rk = ?{condition}",
                (dump_props(props), new_etag, *args),
            ), new_etag
        if written.rowcount == 1:
            return result
        if conn.execute(f"SELECT 1 FROM {self._sql} WHERE pk = ? AND rk = ?", (pk, rk)).fetchone():
            raise ETagMismatch(f"entity ({decode_key(pk)!r}, {decode_key(rk)!r}) changed")
        if must_exist:
            raise EntityNotFound(f"no entity ({decode_key(pk)!r}, {decode_key(rk)!r})")
        return None
