"""host.json: a Service Bus message's lock is renewed for as long as a function may run."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.infra.templates import REPO


def span(text: str) -> timedelta:
    """A host.json time span, hh:mm:ss."""
    hours, minutes, seconds = (int(part) for part in text.split(":"))
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def host_json() -> dict:
    return json.loads((REPO / "host.json").read_text(encoding="utf-8"))


def test_lock_renewal_lasts_as_long_as_the_function_timeout():
    """A lock that stops being renewed before the function is cut off lets a second
    instance receive the same message while the first still works on it."""
    host = host_json()
    renewal = span(host["extensions"]["serviceBus"]["maxAutoLockRenewalDuration"])
    timeout = span(host["functionTimeout"])
    assert renewal == timeout


def test_function_timeout_is_bounded():
    """The Consumption plan allows at most 10 minutes; an unbounded timeout would hold a
    message (and its session) without end."""
    assert timedelta(minutes=1) <= span(host_json()["functionTimeout"]) <= timedelta(minutes=10)


def test_one_target_at_full_concurrency_leaves_session_slots_for_the_rest():
    """A target's lanes are sessions: the most one target may take (its `concurrency`) must
    not be every session slot an instance has, or the person queues would wait on it."""
    from shared.connectors.base import MAX_CONCURRENCY

    assert host_json()["extensions"]["serviceBus"]["maxConcurrentSessions"] > MAX_CONCURRENCY


def test_an_idle_session_frees_its_slot_within_seconds():
    """Person sessions mostly carry one message: a receiver waiting the default minute on an
    emptied session would hold a slot for nothing (docs/provisioning.md)."""
    assert span(host_json()["extensions"]["serviceBus"]["sessionIdleTimeout"]) <= timedelta(seconds=10)
