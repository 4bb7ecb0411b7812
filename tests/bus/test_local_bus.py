"""Scenarios for the local SQLite bus, in travelled time."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from shared.bus import BusError, LocalBus, LockLost
from shared.clock import TravelClock

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
Q = "person-changed"


@pytest.fixture
def clock() -> TravelClock:
    return TravelClock(T0)


@pytest.fixture
def path(tmp_path) -> str:
    return str(tmp_path / "bus.db")


@pytest.fixture
def bus(path, clock):
    bus = LocalBus(path, clock=clock, max_delivery_count=3)
    yield bus
    bus.close()


def test_publish_receive_complete(bus):
    bus.publish(Q, '{"person_id": "p1"}', "m1", session_id="p1")
    assert bus.active_count(Q) == 1
    d = bus.receive(Q)
    assert d is not None
    assert (d.queue, d.message_id, d.body, d.session_id) == (Q, "m1", b'{"person_id": "p1"}', "p1")
    assert d.delivery_count == 1
    assert d.enqueued_at == T0 and d.scheduled_at is None
    assert d.locked_until == T0 + timedelta(seconds=60)
    bus.complete(d)
    assert bus.active_count(Q) == 0
    assert bus.receive(Q) is None


def test_bytes_body_and_queues_are_separate(bus):
    bus.publish("a", b"\x00\xff", "m1")
    assert bus.receive("b") is None
    assert bus.receive("a").body == b"\x00\xff"


def test_locked_message_hidden_from_second_receiver(bus, path, clock):
    other = LocalBus(path, clock=clock)
    try:
        bus.publish(Q, "x", "m1")
        assert bus.receive(Q) is not None
        assert other.receive(Q) is None
        assert bus.receive(Q) is None
        assert bus.active_count(Q) == 1
    finally:
        other.close()


def test_lock_expiry_redelivers(bus, clock):
    bus.publish(Q, "x", "m1")
    first = bus.receive(Q)
    clock.advance(timedelta(seconds=59))
    assert bus.receive(Q) is None
    clock.advance(timedelta(seconds=1))
    second = bus.receive(Q)
    assert second.message_id == "m1"
    assert second.delivery_count == 2
    assert second.lock_token != first.lock_token


def test_abandon_redelivers_at_once(bus):
    bus.publish(Q, "x", "m1")
    bus.abandon(bus.receive(Q))
    again = bus.receive(Q)
    assert again.delivery_count == 2


def test_dead_letter_after_max_delivery_count(bus):
    bus.publish(Q, "x", "m1", session_id="s")
    bus.publish(Q, "y", "m2", session_id="s")
    for count in (1, 2, 3):
        d = bus.receive(Q)
        assert (d.message_id, d.delivery_count) == ("m1", count)
        bus.abandon(d)
    nxt = bus.receive(Q)
    assert nxt.message_id == "m2"
    (dl,) = bus.dead_letters(Q)
    assert (dl.message_id, dl.body, dl.session_id) == ("m1", b"x", "s")
    assert dl.reason == "MaxDeliveryCountExceeded"
    assert dl.delivery_count == 3
    assert dl.dead_lettered_at == T0
    assert bus.active_count(Q) == 1


def test_explicit_dead_letter(bus):
    bus.publish(Q, "not json", "m1")
    d = bus.receive(Q)
    bus.dead_letter(d, "MalformedBody", "Expecting value: line 1 column 1")
    (dl,) = bus.dead_letters(Q)
    assert (dl.reason, dl.description, dl.delivery_count) == (
        "MalformedBody",
        "Expecting value: line 1 column 1",
        1,
    )
    assert bus.active_count(Q) == 0
    assert bus.receive(Q) is None
    assert bus.dead_letters("other") == []


def test_scheduled_message_invisible_until_due(bus, clock):
    due = T0 + timedelta(hours=2)
    bus.publish(Q, "later", "m1", scheduled_at=due)
    assert bus.active_count(Q) == 1
    assert bus.receive(Q) is None
    assert bus.next_due(Q) == due
    clock.advance(timedelta(hours=1, minutes=59, seconds=59))
    assert bus.receive(Q) is None
    clock.advance(timedelta(seconds=1))
    d = bus.receive(Q)
    assert d.message_id == "m1" and d.scheduled_at == due


def test_scheduled_at_must_be_tz_aware(bus):
    with pytest.raises(ValueError):
        bus.publish(Q, "x", "m1", scheduled_at=datetime(2025, 3, 1, 10, 0))


def test_fifo_per_session(bus):
    bus.publish(Q, "a1", "a1", session_id="A")
    bus.publish(Q, "a2", "a2", session_id="A")
    bus.publish(Q, "b1", "b1", session_id="B")
    bus.publish(Q, "b2", "b2", session_id="B")
    bus.publish(Q, "n1", "n1")
    a1 = bus.receive(Q)
    assert a1.message_id == "a1"
    b1 = bus.receive(Q)
    assert b1.message_id == "b1"
    n1 = bus.receive(Q)
    assert n1.message_id == "n1"
    assert bus.receive(Q) is None  # a2 and b2 wait behind locked a1 and b1
    bus.complete(b1)
    b2 = bus.receive(Q)
    assert b2.message_id == "b2"
    assert bus.receive(Q) is None
    bus.abandon(a1)
    assert bus.receive(Q).message_id == "a1"
    assert bus.receive(Q) is None


def test_session_not_blocked_by_future_scheduled_message(bus, clock):
    bus.publish(Q, "later", "s1", session_id="A", scheduled_at=T0 + timedelta(seconds=30))
    bus.publish(Q, "now", "s2", session_id="A")
    s2 = bus.receive(Q)
    assert s2.message_id == "s2"
    clock.advance(timedelta(seconds=30))
    assert bus.receive(Q) is None  # s1 is due, but s2 still holds session A
    bus.complete(s2)
    assert bus.receive(Q).message_id == "s1"


def test_duplicate_message_id_within_window(bus, clock):
    bus.publish(Q, "x", "m1")
    bus.publish(Q, "x", "m1")
    assert bus.active_count(Q) == 1
    bus.complete(bus.receive(Q))
    clock.advance(timedelta(minutes=9, seconds=59))
    bus.publish(Q, "x", "m1")
    assert bus.active_count(Q) == 0
    bus.publish("other", "x", "m1")
    assert bus.active_count("other") == 1
    clock.advance(timedelta(seconds=1))
    bus.publish(Q, "x", "m1")
    assert bus.active_count(Q) == 1


def test_lock_lost_on_expired_lock(bus, clock):
    bus.publish(Q, "x", "m1")
    d = bus.receive(Q)
    clock.advance(timedelta(seconds=60))
    with pytest.raises(LockLost):
        bus.complete(d)
    again = bus.receive(Q)
    with pytest.raises(LockLost):
        bus.abandon(d)
    with pytest.raises(LockLost):
        bus.dead_letter(d, "x")
    bus.complete(again)
    with pytest.raises(LockLost):
        bus.complete(again)


def test_next_due_and_purge(bus, clock):
    assert bus.next_due(Q) is None
    bus.publish(Q, "x", "m1")
    bus.publish(Q, "y", "m2", scheduled_at=T0 + timedelta(minutes=5))
    assert bus.next_due(Q) == T0
    d = bus.receive(Q)
    assert bus.next_due(Q) == T0 + timedelta(seconds=60)
    bus.complete(d)
    assert bus.next_due(Q) == T0 + timedelta(minutes=5)
    bus.publish(Q, "z", "m3")
    bus.dead_letter(bus.receive(Q), "Bad")
    assert bus.purge(Q) == 1
    assert bus.active_count(Q) == 0 and len(bus.dead_letters(Q)) == 1
    assert bus.purge(Q, dead_letters=True) == 1
    assert bus.dead_letters(Q) == []


def test_state_survives_reopen(path, clock):
    first = LocalBus(path, clock=clock)
    first.publish(Q, "x", "m1")
    first.close()
    first.close()
    second = LocalBus(path, clock=clock)
    try:
        assert second.receive(Q).message_id == "m1"
    finally:
        second.close()


def test_two_instances_never_deliver_twice(path, clock):
    feeder = LocalBus(path, clock=clock)
    for i in range(200):
        feeder.publish(Q, str(i), f"m{i}", session_id=f"s{i % 7}" if i % 2 else None)
    buses = [LocalBus(path, clock=clock) for _ in range(2)]
    seen: Counter[str] = Counter()
    order: dict[str, list[int]] = {}
    seen_lock = threading.Lock()
    errors: list[BaseException] = []

    def pump(bus: LocalBus) -> None:
        try:
            idle = 0
            while idle < 50:
                d = bus.receive(Q)
                if d is None:
                    idle += 1
                    continue
                idle = 0
                with seen_lock:
                    seen[d.message_id] += 1
                    if d.session_id:
                        order.setdefault(d.session_id, []).append(int(d.body))
                bus.complete(d)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=pump, args=(b,)) for b in buses for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert not errors
        assert seen == Counter({f"m{i}": 1 for i in range(200)})
        assert all(ids == sorted(ids) for ids in order.values())
        assert feeder.active_count(Q) == 0
    finally:
        for b in [feeder, *buses]:
            b.close()


def test_polling_an_idle_queue_takes_no_write_lock(path, clock):
    """devhost polls every queue ten times a second: an empty one is answered by a read, so
    a writer holding the file (a long publish, another process) neither delays nor fails it."""
    bus = LocalBus(path, clock=clock, busy_timeout=timedelta(milliseconds=50))
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        bus.publish("busy", "x", "m1", scheduled_at=T0 + timedelta(hours=1))  # not due yet
        writer.execute("BEGIN IMMEDIATE")
        assert bus.receive_batch(Q, 10) == []
        assert bus.receive("busy") is None
        writer.execute("ROLLBACK")
        clock.advance(timedelta(hours=1))
        assert bus.receive("busy").message_id == "m1"
    finally:
        writer.close()
        bus.close()


def test_a_repeat_within_the_window_is_dropped_without_the_write_lock(path, clock):
    """A digest's message is published once per batch of orders under one id: a repeat is
    answered by a read, while a new id still needs the lock (and waits for it)."""
    bus = LocalBus(path, clock=clock, busy_timeout=timedelta(milliseconds=50))
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        bus.publish(Q, "x", "digest:t1:0900")
        writer.execute("BEGIN IMMEDIATE")
        bus.publish(Q, "x", "digest:t1:0900")  # a repeat: dropped at once
        with pytest.raises(BusError):
            bus.publish(Q, "y", "digest:t1:0905")
        writer.execute("ROLLBACK")
        clock.advance(timedelta(minutes=11))  # out of the window: published again
        bus.publish(Q, "x", "digest:t1:0900")
        assert bus.active_count(Q) == 2
    finally:
        writer.close()
        bus.close()


def test_a_lock_free_read_the_file_refuses_is_a_bus_error(path, clock):
    """The idle poll and the repeat check read without a transaction; what SQLite refuses
    there reaches the caller as BusError, as from every other call of the bus (the relay
    defers on it, the pump retries)."""
    bus = LocalBus(path, clock=clock, busy_timeout=timedelta(milliseconds=50))
    bus.publish(Q, "x", "m1")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("ALTER TABLE messages RENAME TO messages_elsewhere")
        other.execute("ALTER TABLE seen_ids RENAME TO seen_elsewhere")
        with pytest.raises(BusError):
            bus.receive(Q)  # the idle poll's read
        with pytest.raises(BusError):
            bus.publish(Q, "x", "m1")  # the repeat check's read
    finally:
        other.close()
        bus.close()
