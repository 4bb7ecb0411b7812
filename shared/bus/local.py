"""The local Bus adapter: queues in one SQLite file, with Service Bus peek-lock semantics.

Several processes (the app and devhost) may share the file: every write runs in a
`BEGIN IMMEDIATE` transaction, so two receivers never lock the same message.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from shared.bus.limits import bus_id, checked_body
from shared.bus.port import BusError, DeadLetter, Delivery, LockLost, Publication, QueueDepth
from shared.clock import Clock, SystemClock
from shared.config import MAX_MESSAGE_BYTES
from shared.telemetry import carrier
from shared.wal import ensure_wal

MAX_DELIVERY_REASON = "MaxDeliveryCountExceeded"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body BLOB NOT NULL,
    session_id TEXT,
    enqueued_at INTEGER NOT NULL,
    scheduled_at INTEGER,
    visible_at INTEGER NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT,
    locked_until INTEGER,
    properties TEXT
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (queue, visible_at, seq);
CREATE INDEX IF NOT EXISTS messages_session ON messages (queue, session_id, visible_at, seq);
CREATE INDEX IF NOT EXISTS messages_lock ON messages (lock_token);
CREATE TABLE IF NOT EXISTS seen_ids (
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (queue, message_id)
);
CREATE INDEX IF NOT EXISTS seen_ids_age ON seen_ids (published_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body BLOB NOT NULL,
    session_id TEXT,
    delivery_count INTEGER NOT NULL,
    reason TEXT NOT NULL,
    description TEXT NOT NULL,
    dead_lettered_at INTEGER NOT NULL,
    properties TEXT
);
CREATE INDEX IF NOT EXISTS dead_letters_queue ON dead_letters (queue, id);
"""

# A message is session-blocked by an earlier (visible_at, seq) message of its session,
# or by any message of its session that holds a live lock.
_NOT_SESSION_BLOCKED = """
(m.session_id IS NULL OR NOT EXISTS (
    SELECT 1 FROM messages p
    WHERE p.queue = m.queue AND p.session_id = m.session_id AND p.seq != m.seq
      AND (p.visible_at < m.visible_at OR (p.visible_at = m.visible_at AND p.seq < m.seq)
           OR p.locked_until > :now)))
"""

_NEXT_RECEIVABLE = f"""
SELECT seq, message_id, body, session_id, enqueued_at, scheduled_at, delivery_count, properties
FROM messages m
WHERE m.queue = :queue AND m.visible_at <= :now
  AND (m.locked_until IS NULL OR m.locked_until <= :now)
  AND {_NOT_SESSION_BLOCKED}
ORDER BY m.visible_at, m.seq
LIMIT 1
"""

_NEXT_DUE = """
SELECT MIN(MAX(m.visible_at, COALESCE(m.locked_until, m.visible_at)))
FROM messages m
WHERE m.queue = :queue
  AND (m.session_id IS NULL OR NOT EXISTS (
    SELECT 1 FROM messages p
    WHERE p.queue = m.queue AND p.session_id = m.session_id AND p.seq != m.seq
      AND (p.visible_at < m.visible_at OR (p.visible_at = m.visible_at AND p.seq < m.seq))))
"""


def _to_us(instant: datetime) -> int:
    if instant.tzinfo is None:
        raise ValueError("datetimes on the bus must be tz-aware")
    return (instant - _EPOCH) // _US


def _from_us(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + value * _US


def _properties(value: Mapping[str, str] | None) -> str | None:
    """Application properties as stored: JSON, or NULL when there are none. None: the
    current span's trace context (shared/telemetry.py)."""
    found = carrier() if value is None else dict(value)
    return json.dumps(found, sort_keys=True) if found else None


class LocalBus:
    """Bus and Receiver on SQLite; all times come from the injected clock."""

    def __init__(
        self,
        path: str,
        *,
        clock: Clock | None = None,
        lock_duration: timedelta = timedelta(seconds=60),
        max_delivery_count: int = 10,
        duplicate_window: timedelta = timedelta(minutes=10),
        busy_timeout: timedelta = timedelta(seconds=30),
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ):
        if lock_duration <= timedelta(0) or max_delivery_count < 1:
            raise ValueError("lock_duration must be positive and max_delivery_count >= 1")
        self.path = path
        self.clock = clock or SystemClock()
        self.lock_duration = lock_duration
        self.max_delivery_count = max_delivery_count
        self.duplicate_window = duplicate_window
        self.max_message_bytes = max_message_bytes
        self._mutex = threading.RLock()
        timeout = busy_timeout.total_seconds()
        self._db: sqlite3.Connection | None = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        ensure_wal(self._db)
        self._db.execute("PRAGMA synchronous = NORMAL")
        with self._tx() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            _add_properties(db)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One BEGIN IMMEDIATE transaction; SQLite lock time-outs become BusError."""
        with self._mutex:
            db = self._conn()
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise BusError(f"local bus {self.path}: {exc}") from exc
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            try:
                db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                db.execute("ROLLBACK")
                raise BusError(f"local bus {self.path}: {exc}") from exc

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise BusError("local bus is closed")
        return self._db

    def _now(self) -> int:
        return _to_us(self.clock.now())

    def publish(
        self,
        queue: str,
        body: bytes | str,
        message_id: str,
        session_id: str | None = None,
        scheduled_at: datetime | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        """Enqueue a message, unless its message_id was published within the window.
        Refuses what Service Bus would (shared/bus/limits.py)."""
        self.publish_many([Publication(queue, body, message_id, session_id, scheduled_at, properties)])

    def publish_many(self, messages: Sequence[Publication]) -> None:
        """Enqueue the messages in order in one transaction — all or none — each unless its
        message_id was published on its queue within the window (or earlier in `messages`).
        Every message is checked (shared/bus/limits.py) before anything is written."""
        rows = [self._row(message) for message in messages]
        if not rows or (len(rows) == 1 and self._seen(*rows[0][:2])):
            return
        with self._tx() as db:
            now = self._now()
            window = self.duplicate_window // _US
            db.execute("DELETE FROM seen_ids WHERE published_at <= ?", (now - window,))
            for queue, message_id, data, session_id, scheduled, props in rows:
                seen = db.execute(
                    "SELECT published_at FROM seen_ids WHERE queue = ? AND message_id = ?",
                    (queue, message_id),
                ).fetchone()
                if seen is not None and now - seen[0] < window:
                    continue
                db.execute(
                    "INSERT OR REPLACE INTO seen_ids (queue, message_id, published_at) VALUES (?, ?, ?)",
                    (queue, message_id, now),
                )
                db.execute(
                    "INSERT INTO messages (queue, message_id, body, session_id, enqueued_at,"
                    " scheduled_at, visible_at, properties) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (queue, message_id, data, session_id, now, scheduled, max(now, scheduled or now), props),
                )

    def _seen(self, queue: str, message_id: str) -> bool:
        """Whether `message_id` was published on `queue` within the window — read without
        the write lock, so a repeat (a digest's message, once per order batch) costs no
        transaction; ids leave `seen_ids` only once out of the window, so the answer holds."""
        return self._exists("SELECT 1 FROM seen_ids WHERE queue = ? AND message_id = ? AND published_at > ?",
                            (queue, message_id, self._now() - self.duplicate_window // _US))

    def _row(self, message: Publication) -> tuple:
        """The message as stored (its queue, id, body, session, scheduled instant, properties),
        once checked against Service Bus's limits."""
        data = checked_body(message, self.max_message_bytes)
        scheduled = None if message.scheduled_at is None else _to_us(message.scheduled_at)
        return (message.queue, message.message_id, data, message.session_id, scheduled,
                _properties(message.properties))

    def receive(self, queue: str) -> Delivery | None:
        """The next due message under a fresh peek-lock, or None."""
        batch = self.receive_batch(queue, 1)
        return batch[0] if batch else None

    def receive_batch(self, queue: str, max_messages: int) -> list[Delivery]:
        """Up to `max_messages` due messages, each under its own peek-lock, as a Service Bus
        batch trigger gets them: the next due message and, when it has a session, the
        messages of that session that follow it, in order (a session's batch holds only
        its own messages); without a session, the next due messages without one."""
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        if not self._any_due(queue):
            return []
        with self._tx() as db:
            now = self._now()
            while True:
                row = db.execute(_NEXT_RECEIVABLE, {"queue": queue, "now": now}).fetchone()
                if row is None:
                    return []
                if row[6] >= self.max_delivery_count:
                    self._dead_letter_over_count(db, row, now)
                    continue
                rows = [row, *self._followers(db, queue, row, now, max_messages - 1)]
                return self._locked(db, queue, rows, now)

    def _any_due(self, queue: str) -> bool:
        """Whether a message of `queue` may be receivable now — read without the write lock,
        so an idle queue's poll neither takes the lock nor commits (the receive re-checks)."""
        now = self._now()
        return self._exists("SELECT 1 FROM messages WHERE queue = ? AND visible_at <= ?"
                            " AND (locked_until IS NULL OR locked_until <= ?) LIMIT 1", (queue, now, now))

    def _exists(self, sql: str, parameters: tuple) -> bool:
        """Whether the read finds a row (no transaction); SQLite errors become BusError."""
        with self._mutex:
            try:
                return self._conn().execute(sql, parameters).fetchone() is not None
            except sqlite3.OperationalError as exc:
                raise BusError(f"local bus {self.path}: {exc}") from exc

    def _followers(self, db: sqlite3.Connection, queue: str, head: tuple, now: int, limit: int) -> list[tuple]:
        """The due, unlocked messages after `head` that may share its batch: those of its
        session in order, or (no session) others without one. Over-delivered ones go to
        the dead letters instead."""
        if limit <= 0:
            return []
        session = "m.session_id = :session" if head[3] is not None else "m.session_id IS NULL"
        rows = db.execute(
            "SELECT seq, message_id, body, session_id, enqueued_at, scheduled_at, delivery_count, properties"
            f" FROM messages m WHERE m.queue = :queue AND {session} AND m.seq != :seq"
            " AND m.visible_at <= :now AND (m.locked_until IS NULL OR m.locked_until <= :now)"
            " ORDER BY m.visible_at, m.seq LIMIT :limit",
            {"queue": queue, "session": head[3], "seq": head[0], "now": now, "limit": limit},
        ).fetchall()
        kept = []
        for row in rows:
            if row[6] >= self.max_delivery_count:
                self._dead_letter_over_count(db, row, now)
            else:
                kept.append(row)
        return kept

    def _dead_letter_over_count(self, db: sqlite3.Connection, row: tuple, now: int) -> None:
        self._move_to_dead_letters(
            db, row[0], MAX_DELIVERY_REASON, f"Message could not be consumed after {row[6]} delivery attempts.", now
        )

    def _locked(self, db: sqlite3.Connection, queue: str, rows: list[tuple], now: int) -> list[Delivery]:
        """Lock each of `rows` (its delivery count up by one) and describe it."""
        locked_until = now + self.lock_duration // _US
        deliveries = []
        for seq, message_id, body, session_id, enqueued, scheduled, count, props in rows:
            token = str(uuid.uuid4())
            db.execute(
                "UPDATE messages SET delivery_count = ?, lock_token = ?, locked_until = ? WHERE seq = ?",
                (count + 1, token, locked_until, seq),
            )
            deliveries.append(Delivery(
                queue=queue, message_id=message_id, body=bytes(body), session_id=session_id,
                delivery_count=count + 1, enqueued_at=_from_us(enqueued), scheduled_at=_from_us(scheduled),
                lock_token=token, locked_until=_from_us(locked_until),
                properties=json.loads(props) if props else {},
            ))
        return deliveries

    def complete(self, delivery: Delivery) -> None:
        with self._tx() as db:
            seq = self._locked_seq(db, delivery)
            db.execute("DELETE FROM messages WHERE seq = ?", (seq,))

    def complete_batch(self, deliveries: list[Delivery]) -> None:
        """Complete every message of a batch in one transaction; LockLost (and nothing
        completed) when a lock expired or was settled already."""
        with self._tx() as db:
            seqs = [self._locked_seq(db, delivery) for delivery in deliveries]
            db.executemany("DELETE FROM messages WHERE seq = ?", [(seq,) for seq in seqs])

    def abandon(self, delivery: Delivery) -> None:
        """Release the lock now; the message is receivable again at once."""
        with self._tx() as db:
            seq = self._locked_seq(db, delivery)
            db.execute(
                "UPDATE messages SET lock_token = NULL, locked_until = NULL WHERE seq = ?",
                (seq,),
            )

    def dead_letter(self, delivery: Delivery, reason: str, description: str = "") -> None:
        with self._tx() as db:
            seq = self._locked_seq(db, delivery)
            self._move_to_dead_letters(db, seq, reason, description, self._now())

    def dead_letters(self, queue: str, limit: int | None = None, start: int | None = None) -> list[DeadLetter]:
        """The queue's dead letters, oldest first (at most `limit`, from `sequence` `start` on)."""
        with self._mutex:
            rows = (
                self._conn()
                .execute(
                    "SELECT id, message_id, body, session_id, delivery_count, reason, description,"
                    " dead_lettered_at FROM dead_letters WHERE queue = ? AND id >= ? ORDER BY id LIMIT ?",
                    (queue, start or 0, -1 if limit is None else limit),
                )
                .fetchall()
            )
        return [
            DeadLetter(queue, mid, bytes(body), sid, count, reason, desc, _from_us(at), sequence=number)
            for number, mid, body, sid, count, reason, desc, at in rows
        ]

    def active_count(self, queue: str) -> int:
        """Messages waiting or locked (scheduled ones included)."""
        with self._mutex:
            (count,) = (
                self._conn()
                .execute("SELECT COUNT(*) FROM messages WHERE queue = ?", (queue,))
                .fetchone()
            )
        return count

    def depth(self, queue: str) -> QueueDepth:
        """Active (due or locked), scheduled (not yet due) and dead-lettered messages."""
        with self._mutex:
            db = self._conn()
            active, scheduled = db.execute(
                "SELECT COALESCE(SUM(visible_at <= ?), 0), COALESCE(SUM(visible_at > ?), 0)"
                " FROM messages WHERE queue = ?",
                (self._now(), self._now(), queue),
            ).fetchone()
            (dead,) = db.execute(
                "SELECT COUNT(*) FROM dead_letters WHERE queue = ?", (queue,)
            ).fetchone()
        return QueueDepth(active=active, scheduled=scheduled, dead_lettered=dead)

    def replay(self, queue: str, message_id: str) -> str | None:
        """Move the oldest dead letter with `message_id` back onto `queue` (delivery count
        0, under the id `replay:<n>:<message_id>`) in one transaction."""
        with self._tx() as db:
            row = db.execute(
                "SELECT id, body, session_id, properties FROM dead_letters WHERE queue = ? AND message_id = ?"
                " ORDER BY id LIMIT 1",
                (queue, message_id),
            ).fetchone()
            if row is None:
                return None
            number, body, session_id, props = row
            new_id = bus_id(f"replay:{number}:{message_id}")
            now = self._now()
            db.execute(
                "INSERT INTO messages (queue, message_id, body, session_id, enqueued_at,"
                " scheduled_at, visible_at, properties) VALUES (?, ?, ?, ?, ?, NULL, ?, ?)",
                (queue, new_id, body, session_id, now, now, props),
            )
            db.execute("DELETE FROM dead_letters WHERE id = ?", (number,))
        return new_id

    def next_due(self, queue: str) -> datetime | None:
        """When a message of `queue` can next be received, if nothing is settled meanwhile:
        the earliest visible time (or lock expiry, for a locked one) among messages not
        queued behind an earlier message of their session. May be in the past."""
        with self._mutex:
            (value,) = self._conn().execute(_NEXT_DUE, {"queue": queue}).fetchone()
        return _from_us(value)

    def purge(self, queue: str, *, dead_letters: bool = False) -> int:
        """Drop every message of `queue` (and its dead letters if asked); returns how many."""
        with self._tx() as db:
            removed = db.execute("DELETE FROM messages WHERE queue = ?", (queue,)).rowcount
            if dead_letters:
                removed += db.execute("DELETE FROM dead_letters WHERE queue = ?", (queue,)).rowcount
        return removed

    def close(self) -> None:
        with self._mutex:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _locked_seq(self, db: sqlite3.Connection, delivery: Delivery) -> int:
        row = db.execute(
            "SELECT seq FROM messages WHERE lock_token = ? AND queue = ? AND locked_until > ?",
            (delivery.lock_token, delivery.queue, self._now()),
        ).fetchone()
        if row is None:
            raise LockLost(
                f"lock on message {delivery.message_id!r} of {delivery.queue!r} "
                "expired or was already settled"
            )
        return row[0]

    def _move_to_dead_letters(
        self, db: sqlite3.Connection, seq: int, reason: str, description: str, now: int
    ) -> None:
        db.execute(
            "INSERT INTO dead_letters (queue, message_id, body, session_id, delivery_count,"
            " reason, description, dead_lettered_at, properties)"
            " SELECT queue, message_id, body, session_id, delivery_count, ?, ?, ?, properties"
            " FROM messages WHERE seq = ?",
            (reason, description, now, seq),
        )
        db.execute("DELETE FROM messages WHERE seq = ?", (seq,))


def _add_properties(db: sqlite3.Connection) -> None:
    """A bus file made before messages carried application properties gets the column."""
    for table in ("messages", "dead_letters"):
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if "properties" not in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN properties TEXT")
