"""Batch receive on the local bus, as a Service Bus batch trigger (`cardinality=many`) gets
messages: one session's only, in order, each under its own lock; the limits still hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.bus import LocalBus, LockLost
from shared.bus.limits import MessageTooLarge
from shared.clock import TravelClock

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
Q = "provisioning-order"


@pytest.fixture
def clock() -> TravelClock:
    return TravelClock(T0)


@pytest.fixture
def bus(tmp_path, clock):
    bus = LocalBus(str(tmp_path / "bus.db"), clock=clock, max_delivery_count=2, max_message_bytes=1024)
    yield bus
    bus.close()


def publish(bus, session: str | None, *ids: str, at: datetime | None = None) -> None:
    for message_id in ids:
        bus.publish(Q, f'{{"order_id": "{message_id}"}}', message_id, session_id=session, scheduled_at=at)


def test_a_batch_holds_one_sessions_due_messages_in_order_up_to_the_maximum(bus, clock):
    publish(bus, "t|0", "a1", "a2")
    publish(bus, "t|1", "b1")
    publish(bus, "t|0", "a3", "a4")
    publish(bus, "t|0", "a5", at=T0 + timedelta(minutes=5))  # not due yet

    first = bus.receive_batch(Q, 3)
    second = bus.receive_batch(Q, 3)
    third = bus.receive_batch(Q, 3)

    assert [d.message_id for d in first] == ["a1", "a2", "a3"]
    assert [d.message_id for d in second] == ["b1"]  # t|0 is locked: its a4 waits
    assert third == []
    assert len({d.lock_token for d in first}) == 3


def test_a_sessions_next_batch_comes_once_the_first_is_completed(bus):
    publish(bus, "t|0", "a1", "a2", "a3")
    first = bus.receive_batch(Q, 2)

    bus.complete_batch(first)
    second = bus.receive_batch(Q, 2)

    assert [d.message_id for d in second] == ["a3"]
    assert bus.active_count(Q) == 1


def test_messages_without_a_session_are_batched_together(bus):
    publish(bus, None, "n1", "n2")
    publish(bus, "t|0", "a1")

    batch = bus.receive_batch(Q, 10)

    assert [d.message_id for d in batch] == ["n1", "n2"]


def test_an_abandoned_batch_comes_back_whole_and_is_dead_lettered_past_the_delivery_count(bus):
    publish(bus, "t|0", "a1", "a2")
    for _ in range(2):
        batch = bus.receive_batch(Q, 10)
        assert [d.delivery_count for d in batch] in ([1, 1], [2, 2])
        for delivery in batch:
            bus.abandon(delivery)

    assert bus.receive_batch(Q, 10) == []
    assert sorted(letter.message_id for letter in bus.dead_letters(Q)) == ["a1", "a2"]
    assert {letter.reason for letter in bus.dead_letters(Q)} == {"MaxDeliveryCountExceeded"}


def test_an_expired_lock_makes_the_whole_batch_receivable_and_its_completion_fail(bus, clock):
    publish(bus, "t|0", "a1", "a2")
    batch = bus.receive_batch(Q, 10)
    clock.advance(timedelta(seconds=61))

    again = bus.receive_batch(Q, 10)
    with pytest.raises(LockLost):
        bus.complete_batch(batch)

    assert [d.message_id for d in again] == ["a1", "a2"]
    assert bus.active_count(Q) == 2  # nothing of the failed completion went through
    bus.complete_batch(again)
    assert bus.active_count(Q) == 0


def test_batching_keeps_the_service_bus_limits_of_each_message(bus):
    with pytest.raises(MessageTooLarge):
        bus.publish(Q, "x" * 1025, "big", session_id="t|0")
    with pytest.raises(ValueError, match="128"):
        bus.publish(Q, "{}", "m" * 129, session_id="t|0")
    with pytest.raises(ValueError, match="at least 1"):
        bus.receive_batch(Q, 0)
