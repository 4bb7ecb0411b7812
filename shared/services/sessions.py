"""Console sessions for API-key sign-in (docs/security.md §8).

Signing in with a key starts a session: a random id (32 bytes, URL-safe) in an HttpOnly,
SameSite=Strict cookie; the store keeps only the SHA-256 of that id (partition of the
`sessions` table), the digest of the key it stands for, and when it began and was last used.
A session ends at sign-out, after `ROSTER_CONSOLE_IDLE_MINUTES` (30) without a request, after
`ROSTER_CONSOLE_SESSION_HOURS` (8) in any case, and as soon as its key is no longer in
`ROSTER_API_KEYS` (the console checks that at every request). Ending deletes the row.

A session nobody uses again is removed by the self-healing sweep (`sweep_ended`): each session
is also listed in the `ends` partition under the instant its maximum age runs out (written
before the session, removed after it), so a sweep reads just the sessions past that instant
and deletes them — an unused session's row outlives it by at most the sweep's interval.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from shared.errors import NotAuthenticated
from shared.runtime import Runtime
from shared.store.port import Entity

TABLE = "sessions"
ROW = "session"
ENDS = "ends"  # the index partition: rows `<hard end, UTC>|<stored id>`
TOUCH_EVERY = timedelta(minutes=1)  # `seen_at` is rewritten at most this often


def start(rt: Runtime, key_digest: str) -> str:
    """A new session for the key with this digest; returns the id for the cookie."""
    session_id = secrets.token_urlsafe(32)
    now, table = rt.clock.now(), rt.store.table(TABLE)
    table.upsert(Entity(ENDS, _listed(rt, now, _stored(session_id))))  # first: no session escapes the sweep
    table.insert(Entity(_stored(session_id), ROW, {"key": key_digest, "created_at": now, "seen_at": now}))
    return session_id


def key_of(rt: Runtime, session_id: str) -> str:
    """The key digest of a live session (its last use recorded); NotAuthenticated, and the
    session deleted, when it is unknown, idle too long or too old."""
    table = rt.store.table(TABLE)
    entity = table.get(_stored(session_id), ROW) if _plausible(session_id) else None
    if entity is None:
        raise NotAuthenticated("the session has ended")
    now = rt.clock.now()
    expired = _expired(rt, entity.properties["created_at"], entity.properties["seen_at"], now)
    if expired:
        _remove(rt, entity)
        raise NotAuthenticated(expired)
    if now - entity.properties["seen_at"] >= TOUCH_EVERY:
        table.upsert(Entity(entity.partition_key, ROW, {**entity.properties, "seen_at": now}))
    return entity.properties["key"]


def end(rt: Runtime, session_id: str) -> None:
    """Delete the session (sign-out, expiry, a key removed); nothing if there is none."""
    entity = rt.store.table(TABLE).get(_stored(session_id), ROW) if _plausible(session_id) else None
    if entity is not None:
        _remove(rt, entity)


def sweep_ended(rt: Runtime, limit: int = 500) -> int:
    """Remove up to `limit` sessions past their maximum age (used or not since), and index
    rows left by an interrupted start or end; returns how many sessions were removed."""
    table, removed, now = rt.store.table(TABLE), 0, rt.clock.now()
    for listed in list(table.query(ENDS, end=f"{_stamp(now)}|", limit=limit)):
        stored = listed.row_key.split("|", 1)[1]
        entity = table.get(stored, ROW)
        if entity is not None and not _expired(rt, entity.properties["created_at"], entity.properties["seen_at"], now):
            relisted = _listed(rt, entity.properties["created_at"], stored)  # a longer maximum since
            if relisted == listed.row_key:
                continue
            table.upsert(Entity(ENDS, relisted))
        elif entity is not None:
            _remove(rt, entity)
            removed += 1
        table.delete(ENDS, listed.row_key)
    return removed


def _remove(rt: Runtime, session: Entity) -> None:
    """Delete the session (its row as read) and its index row."""
    table = rt.store.table(TABLE)
    table.delete(session.partition_key, ROW)
    table.delete(ENDS, _listed(rt, session.properties["created_at"], session.partition_key))  # after: a crash leaves it to the sweep


def _listed(rt: Runtime, created_at: datetime, stored: str) -> str:
    return f"{_stamp(created_at + rt.settings.console_session_max)}|{stored}"


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


def _expired(rt: Runtime, created_at: datetime, seen_at: datetime, now: datetime) -> str | None:
    if now - created_at >= rt.settings.console_session_max:
        return "the session is over (signed in too long ago)"
    if now - seen_at >= rt.settings.console_idle:
        return "the session expired after a time without use"
    return None


def _plausible(session_id: str) -> bool:
    return 20 <= len(session_id) <= 100


def _stored(session_id: str) -> str:
    """What the store keeps instead of the id: someone reading the table cannot sign in."""
    return hashlib.sha256(session_id.encode()).hexdigest()
