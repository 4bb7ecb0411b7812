"""The SQLite store's write-ahead log is checkpointed off the writer's thread and stays bounded:
the background checkpointer copies what writers commit, the writers' own automatic checkpoint
is only a backstop (it still bounds the log when the checkpointer cannot keep up), and what was
written is in the database file after the store is closed and reopened."""

from __future__ import annotations

import gc
import os
import threading
import time

import pytest

from shared import wal
from shared.store import Entity
from shared.store.sqlite import SqliteStore

PAGE = 4096  # SQLite's default page size, the one the store uses
FILLER = "x" * 1500  # ~ 1 page per two rows in the table's b-tree


def _wal_bytes(store: SqliteStore) -> int:
    path = store.path + "-wal"
    return os.path.getsize(path) if os.path.exists(path) else 0


def _write_units(store: SqliteStore, units: int, rows: int, start: int = 0) -> list[int]:
    """`units` units of work of `rows` inserts each; the log file's size after each commit."""
    table, sizes = store.table("walrows"), []
    for unit in range(start, start + units):
        with store.unit_of_work():
            for row in range(rows):
                table.insert(Entity(f"p{unit % 7}", f"{unit:06d}-{row:04d}", {"filler": FILLER, "n": row}))
        sizes.append(_wal_bytes(store))
    return sizes


def _wait_for(condition, seconds: float = 20.0) -> bool:
    """Poll `condition` until it holds (a bound on the wait, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def small_backstop(monkeypatch):
    """A backstop of 200 pages (and a 1 MiB log limit) so a few MiB of writes cross it many times."""
    monkeypatch.setattr(wal, "BACKSTOP_PAGES", 200)
    monkeypatch.setattr(wal, "LOG_LIMIT_BYTES", 1024 * 1024)


def test_a_long_run_of_units_keeps_the_log_bounded(tmp_path, small_backstop):
    store = SqliteStore(str(tmp_path / "bounded.db"))
    try:
        sizes = _write_units(store, units=60, rows=100)  # ~ 3,000 pages of rows, 15× the backstop
        database_pages = os.path.getsize(store.path) // PAGE
    finally:
        store.close()
    assert database_pages > 10 * 200  # the data went through the log many times over its bound
    bound = 6 * 200 * (PAGE + 24)  # backstop + a few units of ~ 100 pages (a checkpoint may be busy)
    assert max(sizes) <= bound, f"the log grew to {max(sizes)} bytes"


def test_the_writers_backstop_bounds_the_log_when_no_checkpointer_runs(tmp_path, small_backstop):
    store = SqliteStore(str(tmp_path / "backstop.db"))
    store.checkpointer.close()  # as if the background thread had fallen behind for good
    try:
        sizes = _write_units(store, units=60, rows=100)
    finally:
        store.close()
    assert max(sizes) <= 6 * 200 * (PAGE + 24), f"the log grew to {max(sizes)} bytes"


def test_a_commit_under_the_backstop_leaves_the_copying_to_the_checkpointer(tmp_path):
    store = SqliteStore(str(tmp_path / "offthread.db"))
    store.checkpointer.close()  # nothing copies but the writer itself
    try:
        _write_units(store, units=1, rows=3_000)  # ~ 1,500 pages: past SQLite's default of 1,000
        logged = _wal_bytes(store) // (PAGE + 24)
        copied = os.path.getsize(store.path) // PAGE  # only a checkpoint writes rows to the file
    finally:
        store.close()
    assert 1_000 < logged < wal.BACKSTOP_PAGES
    assert copied < 100, "the committing thread checkpointed"


def test_the_checkpointer_copies_what_was_committed_in_its_own_thread(tmp_path):
    store = SqliteStore(str(tmp_path / "copied.db"))
    try:
        _write_units(store, units=3, rows=200)  # ~ 300 pages: far under the writers' backstop
        thread = store.checkpointer._thread
        assert thread is not None and thread.name == "sqlite-checkpoint" and thread is not threading.current_thread()
        # the rows reach the database file (only a checkpoint writes them there)
        assert _wait_for(lambda: os.path.getsize(store.path) >= 250 * PAGE)
        assert store.checkpointer.checkpoints > 0
    finally:
        store.close()
    assert not thread.is_alive()


def test_what_was_written_is_there_after_close_and_reopen(tmp_path, small_backstop):
    path = str(tmp_path / "durable.db")
    store = SqliteStore(path)
    _write_units(store, units=12, rows=50)
    store.close()
    reopened = SqliteStore(path)
    try:
        table = reopened.table("walrows")
        count = sum(1 for partition in range(7) for _ in table.query(f"p{partition}"))
        last = table.get("p4", "000011-0049")
    finally:
        reopened.close()
    assert count == 12 * 50
    assert last is not None and last.properties == {"filler": FILLER, "n": 49}


def test_a_store_dropped_without_close_stops_its_checkpointer(tmp_path):
    store = SqliteStore(str(tmp_path / "dropped.db"))
    _write_units(store, units=1, rows=10)
    checkpointer = store.checkpointer
    del store
    gc.collect()  # the store and its tables refer to each other
    assert _wait_for(lambda: checkpointer._thread is None or not checkpointer._thread.is_alive())
