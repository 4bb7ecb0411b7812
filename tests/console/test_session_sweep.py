"""Console sessions nobody ends are removed by the self-healing sweep (docs/security.md §8)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from shared.errors import NotAuthenticated
from shared.services import sessions
from shared.services.sweep import sweep
from shared.store.port import Entity


def session_rows(rt) -> list[str]:
    """The partitions of the sessions table that hold a session (not the index)."""
    return [e.partition_key for e in _all(rt) if e.row_key == sessions.ROW]


def index_rows(rt) -> list[str]:
    return [e.row_key for e in rt.store.table(sessions.TABLE).query(sessions.ENDS)]


def _all(rt):
    conn = rt.store.connection()
    rows = conn.execute('SELECT pk, rk FROM "t_sessions"').fetchall()
    return [Entity(pk, rk) for pk, rk in rows]


def test_a_session_left_open_is_removed_by_the_sweep_once_its_maximum_age_is_over(rt, clock):
    first = sessions.start(rt, "key-a")
    sessions.start(rt, "key-b")  # signed in, then the browser was closed: never used again
    assert len(session_rows(rt)) == len(index_rows(rt)) == 2

    clock.advance(timedelta(hours=7, minutes=59))
    assert sessions.sweep_ended(rt) == 0  # neither is past its maximum age yet (one is idle: refused on use)
    assert len(session_rows(rt)) == 2

    clock.advance(timedelta(minutes=2))
    assert sweep(rt)["console_sessions_ended"] == 2
    assert session_rows(rt) == [] and index_rows(rt) == []
    with pytest.raises(NotAuthenticated):
        sessions.key_of(rt, first)


def test_signing_out_removes_the_session_and_its_index_row(rt):
    session_id = sessions.start(rt, "key-a")

    sessions.end(rt, session_id)

    assert session_rows(rt) == [] and index_rows(rt) == []


def test_an_index_row_left_by_an_interrupted_start_is_cleared_without_touching_live_sessions(rt, clock):
    live = sessions.start(rt, "key-a")
    table = rt.store.table(sessions.TABLE)
    stamp = (clock.now() - timedelta(minutes=1)).strftime("%Y%m%dT%H%M%S")
    table.upsert(Entity(sessions.ENDS, f"{stamp}|{'0' * 64}"))  # a crash after the index row, before the session

    assert sessions.sweep_ended(rt) == 0

    assert len(index_rows(rt)) == 1 and sessions.key_of(rt, live) == "key-a"


def test_a_longer_maximum_set_since_keeps_a_live_session_and_lists_it_again(rt, clock):
    session_id = sessions.start(rt, "key-a")
    clock.advance(timedelta(hours=8, minutes=1))
    rt_longer = dataclasses.replace(rt, settings=dataclasses.replace(
        rt.settings, console_session_max=timedelta(hours=24), console_idle=timedelta(hours=24)))

    assert sessions.sweep_ended(rt_longer) == 0

    assert session_rows(rt) != [] and len(index_rows(rt)) == 1
    assert sessions.key_of(rt_longer, session_id) == "key-a"
