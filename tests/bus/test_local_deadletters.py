"""The local bus's operations side: depths, its own dead-letter queue, and replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.bus import LocalBus
from shared.clock import TravelClock

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def poisoned(tmp_path) -> LocalBus:
    """A bus whose message m-1 failed every delivery: it now sits in the dead-letter queue."""
    bus = LocalBus(str(tmp_path / "bus.db"), clock=TravelClock(START), max_delivery_count=3)
    bus.publish("q", b'{"n": 1}', "m-1", session_id="p1")
    for _ in range(3):
        bus.abandon(bus.receive("q"))
    assert bus.receive("q") is None  # the fourth receive dead-letters it
    return bus


def test_a_message_that_failed_every_delivery_is_dead_lettered_and_counted(tmp_path):
    bus = poisoned(tmp_path)
    bus.publish("q", b"{}", "later", scheduled_at=START + timedelta(minutes=5))

    [letter] = bus.dead_letters("q")
    depth = bus.depth("q")

    assert (letter.message_id, letter.reason, letter.delivery_count) == ("m-1", "MaxDeliveryCountExceeded", 3)
    assert (depth.active, depth.scheduled, depth.dead_lettered) == (0, 1, 1)


def test_a_replay_puts_the_dead_letter_back_with_a_fresh_delivery_count(tmp_path):
    bus = poisoned(tmp_path)

    new_id = bus.replay("q", "m-1")

    delivery = bus.receive("q")
    assert new_id.startswith("replay:") and new_id.endswith(":m-1")
    assert (delivery.message_id, delivery.body, delivery.session_id, delivery.delivery_count) == (
        new_id, b'{"n": 1}', "p1", 1)
    assert bus.dead_letters("q") == []


def test_replaying_what_is_not_there_changes_nothing(tmp_path):
    bus = poisoned(tmp_path)

    assert bus.replay("q", "m-2") is None
    assert bus.replay("other", "m-1") is None
    assert len(bus.dead_letters("q")) == 1 and bus.depth("q").active == 0


def test_dead_letters_are_read_a_page_at_a_time_from_a_sequence(tmp_path):
    bus = LocalBus(str(tmp_path / "bus.db"), clock=TravelClock(START), max_delivery_count=1)
    for n in range(5):
        bus.publish("q", b"{}", f"m-{n}")
        bus.dead_letter(bus.receive("q"), "Refused", "test")

    first = bus.dead_letters("q", limit=2)
    rest = bus.dead_letters("q", limit=10, start=first[-1].sequence + 1)

    assert [d.message_id for d in first] == ["m-0", "m-1"]
    assert [d.message_id for d in rest] == ["m-2", "m-3", "m-4"]
    assert first[0].sequence < first[1].sequence < rest[0].sequence
