"""SQLite in write-ahead-log mode, opened safely by several processes and threads at once, and
checkpointed off the writers' thread (docs/architecture.md §3).

A commit appends pages to the `-wal` file; a checkpoint copies them back into the database
file (and, with synchronous=NORMAL, syncs it). SQLite's automatic checkpoint runs inside the
commit that crosses its threshold — on the writer's thread, while it holds nothing but costs
it milliseconds. A `Checkpointer` instead copies the log in a thread of its own (sqlite3
releases the GIL while it works), woken by commits, at most once per `interval`. Writers keep
an automatic checkpoint only as a backstop at `BACKSTOP_PAGES`: should the background thread
fall behind — a passive checkpoint never waits for anyone, and the log restarts only when a
writer finds it wholly copied — the writer checkpoints as SQLite always did, so the log
stays bounded; `journal_size_limit` truncates a log that grew past `LOG_LIMIT_BYTES` once it
restarts. Durability is unchanged: a commit is in the log, whichever thread copies it.
"""

from __future__ import annotations

import sqlite3
import threading
import time

BACKSTOP_PAGES = 8_000  # the writer's own automatic checkpoint (SQLite's default: 1,000)
LOG_LIMIT_BYTES = 64 * 1024 * 1024  # the -wal file is cut back to this after a restart


def ensure_wal(connection: sqlite3.Connection, attempts: int = 100) -> None:
    """Switch the database file to WAL once. The mode is stored in the file, so later openers
    find it set; the switch needs a moment alone with the file, so a busy file is retried
    (SQLite answers "database is locked" at once here, without waiting on busy_timeout)."""
    for attempt in range(attempts):
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            time.sleep(0.01 * (attempt + 1))
    raise sqlite3.OperationalError("database is locked: could not switch to WAL")


def writer_pragmas(connection: sqlite3.Connection) -> None:
    """A writer connection's checkpoint settings: the automatic checkpoint only as a backstop
    (the `Checkpointer` does the rest), the log file cut back once it restarts."""
    connection.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    connection.execute(f"PRAGMA journal_size_limit={LOG_LIMIT_BYTES}")


class Checkpointer:
    """Passive checkpoints of one database file in a daemon thread, started by the first
    `wrote()` and stopped by `close()`; it holds no reference to its store."""

    def __init__(self, path: str, interval: float = 0.25, timeout: float = 30.0):
        self.path = path
        self.interval = interval
        self.timeout = timeout
        self.checkpoints = 0  # how many ran (for tests and the curious)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def wrote(self) -> None:
        """A writer committed: checkpoint soon (cheap: sets a flag, starts the thread once)."""
        self._wake.set()
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error:
            return  # the file is gone or unreadable: the writers' backstop still checkpoints
        try:
            while not self._stop.is_set():
                self._wake.wait()
                self._wake.clear()
                if self._stop.is_set():
                    break
                self.checkpoint(connection)
                self._stop.wait(self.interval)  # at most one checkpoint per interval
        finally:
            connection.close()

    def checkpoint(self, connection: sqlite3.Connection) -> tuple[int, int, int]:
        """One passive checkpoint: (busy, frames in the log, frames copied). It never waits on
        a reader or writer; a failure is left to the next one and the writers' backstop."""
        try:
            busy, logged, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            return 1, -1, -1
        self.checkpoints += 1
        return busy, logged, copied

    def close(self) -> None:
        """Stop the thread (after the checkpoint under way, if any) and wait for it."""
        with self._lock:
            self._stop.set()
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
