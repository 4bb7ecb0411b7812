"""Item 8 of issue 11: console sessions are server-side, random, expire, and end."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import timedelta

from tests.hardening.calls import console, set_cookies


def sign_in(key: str = "reader-key") -> str:
    response = console("console_sign_in", "POST", form={"key": key})
    assert response.status_code == 303
    return set_cookies(response)["roster_session"]


def signed_in(session: str) -> bool:
    """Does the persons page open (200), or send the browser to sign in (303)?"""
    status = console("console_persons", session=session).status_code
    assert status in (200, 303)
    return status == 200


def test_each_sign_in_gets_a_new_random_session_id_and_the_store_keeps_only_its_digest(rt):
    first, second = sign_in(), sign_in()

    assert first != second
    assert hashlib.sha256(b"reader-key").hexdigest() not in (first, second)
    assert signed_in(first) and signed_in(second)
    stored = [e.partition_key for e in rt.store.table("sessions").query(hashlib.sha256(first.encode()).hexdigest())]
    assert stored == [hashlib.sha256(first.encode()).hexdigest()]


def test_signing_out_ends_the_session_on_the_server(rt):
    session = sign_in()
    other = sign_in()

    response = console("console_sign_out", "POST", session=session)

    assert response.status_code == 303
    assert set_cookies(response)["roster_session"] == ""
    assert not signed_in(session)  # the old cookie, replayed, no longer works
    assert signed_in(other)  # another browser's session is its own


def test_a_session_idle_for_30_minutes_ends(rt, clock):
    session = sign_in()
    clock.advance(timedelta(minutes=29))
    assert signed_in(session)  # a request: the idle time starts again
    clock.advance(timedelta(minutes=29))
    assert signed_in(session)

    clock.advance(timedelta(minutes=30))

    assert not signed_in(session)
    clock.advance(timedelta(seconds=-3600))  # even back in time: the row is gone
    assert not signed_in(session)


def test_a_session_ends_after_8_hours_however_busy(rt, clock):
    session = sign_in()
    for _ in range(23):  # every 20 minutes for 7 h 40 min
        clock.advance(timedelta(minutes=20))
        assert signed_in(session)

    clock.advance(timedelta(minutes=20))

    assert not signed_in(session)


def test_the_expiry_times_are_settings(rt, clock, monkeypatch):
    monkeypatch.setattr(rt, "settings", dataclasses.replace(rt.settings, console_idle=timedelta(minutes=5),
                                                            console_session_max=timedelta(hours=1)))
    session = sign_in()
    clock.advance(timedelta(minutes=6))
    assert not signed_in(session)

    cookie = console("console_sign_in", "POST", form={"key": "reader-key"}).headers.getlist("Set-Cookie")
    assert any(c.startswith("roster_session=") and "Max-Age=3600" in c for c in cookie)


def test_a_key_removed_from_the_settings_ends_its_sessions(rt, monkeypatch):
    session = sign_in("reader-key")
    other = sign_in("admin-key")
    keys = {k: v for k, v in rt.settings.api_keys.items() if k != "reader-key"}
    monkeypatch.setattr(rt, "settings", dataclasses.replace(rt.settings, api_keys=keys))

    assert not signed_in(session)
    assert signed_in(other)
    monkeypatch.setattr(rt, "settings", dataclasses.replace(rt.settings, api_keys={**keys, "reader-key": ["Persons.Read"]}))
    assert not signed_in(session)  # revoked for good, even if the key comes back


def test_a_forged_or_odd_session_cookie_is_not_signed_in(rt):
    for forged in ("x" * 43, hashlib.sha256(b"reader-key").hexdigest(), "", "a" * 5000):
        assert not signed_in(forged)
