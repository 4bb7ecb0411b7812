"""SQLite in write-ahead-log mode, opened safely by several processes and threads at once."""

from __future__ import annotations

import sqlite3
import time


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
