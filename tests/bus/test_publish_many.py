"""`Bus.publish_many`, what the outbox relay sends a unit of work's messages with: on the local
bus one transaction (all or none, in order, duplicates dropped as one by one); on Service Bus,
at the SDK boundary, a batch per queue split where the sender's size limit says, scheduled
messages one call per instant, every message checked before anything is sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.servicebus import ServiceBusMessageBatch
from azure.servicebus.exceptions import ServiceBusError

from shared.bus import BusError, LocalBus, MessageTooLarge
from shared.bus import servicebus as module
from shared.bus.port import Publication
from shared.bus.servicebus import ServiceBusBus
from shared.clock import TravelClock

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> TravelClock:
    return TravelClock(T0)


@pytest.fixture
def bus(tmp_path, clock):
    bus = LocalBus(str(tmp_path / "bus.db"), clock=clock, max_message_bytes=1024)
    yield bus
    bus.close()


def drained(bus: LocalBus, queue: str) -> list[tuple[str, str | None, bytes]]:
    found = []
    while (delivery := bus.receive(queue)) is not None:
        found.append((delivery.message_id, delivery.session_id, delivery.body))
        bus.complete(delivery)
    return found


def test_a_unit_s_messages_arrive_in_their_order_on_their_queues(bus):
    bus.publish_many([Publication("a", "1", "m1", session_id="p1"), Publication("b", b"2", "m2"),
                      Publication("a", "3", "m3", session_id="p1")])
    assert drained(bus, "a") == [("m1", "p1", b"1"), ("m3", "p1", b"3")]
    assert drained(bus, "b") == [("m2", None, b"2")]


def test_an_id_seen_in_the_window_or_earlier_in_the_same_call_is_dropped(bus, clock):
    bus.publish("a", "first", "m1")
    bus.publish_many([Publication("a", "again", "m1"), Publication("a", "new", "m2"),
                      Publication("a", "twice", "m2"), Publication("b", "other queue", "m1")])
    assert drained(bus, "a") == [("m1", None, b"first"), ("m2", None, b"new")]
    assert drained(bus, "b") == [("m1", None, b"other queue")]
    clock.advance(timedelta(minutes=11))  # past the duplicate detection window
    bus.publish_many([Publication("a", "later", "m1")])
    assert drained(bus, "a") == [("m1", None, b"later")]


def test_scheduled_messages_of_a_batch_wait_for_their_instant(bus, clock):
    bus.publish_many([Publication("a", "now", "m1"), Publication("a", "later", "m2", scheduled_at=T0 + timedelta(hours=1))])
    assert drained(bus, "a") == [("m1", None, b"now")]
    clock.advance(timedelta(hours=1))
    assert drained(bus, "a") == [("m2", None, b"later")]


@pytest.mark.parametrize("bad, error", [
    (Publication("a", "x" * 2000, "big"), MessageTooLarge),
    (Publication("a", "{}", "i" * 129), ValueError),
    (Publication("a", "{}", "naive", scheduled_at=datetime(2026, 11, 2, 10, 0)), ValueError),
    (Publication("", "{}", "no-queue"), ValueError),
])
def test_one_message_service_bus_would_refuse_sends_none_of_the_batch(bus, bad, error):
    with pytest.raises(error):
        bus.publish_many([Publication("a", "{}", "m1"), bad, Publication("a", "{}", "m3")])
    assert drained(bus, "a") == []
    bus.publish_many([Publication("a", "{}", "m1")])  # the refused batch left no id behind
    assert [m for m, _, _ in drained(bus, "a")] == ["m1"]


def test_nothing_to_publish_is_no_transaction(bus):
    bus.publish_many([])
    assert bus.active_count("a") == 0


# -- Service Bus, at the SDK boundary -------------------------------------------------------

class BatchingSender:
    """A queue sender recording each send: a batch (by its message ids), a message, or a
    schedule call; its batches hold `capacity` bytes (the real SDK batch class)."""

    def __init__(self, capacity: int, fail: Exception | None):
        self.capacity, self.fail = capacity, fail
        self.calls: list[tuple] = []

    def create_message_batch(self, max_size_in_bytes=None):
        return ServiceBusMessageBatch(max_size_in_bytes=self.capacity)

    def send_messages(self, message):
        if self.fail:
            raise self.fail
        if isinstance(message, ServiceBusMessageBatch):
            self.calls.append(("batch", [m.message_id for m in message._messages]))
        else:
            self.calls.append(("one", message.message_id))

    def schedule_messages(self, messages, schedule_time_utc):
        ids = [m.message_id for m in messages] if isinstance(messages, list) else [messages.message_id]
        self.calls.append(("scheduled", ids, schedule_time_utc))
        return list(range(len(ids)))

    def close(self):
        pass


class BatchingClient:
    capacity = 4096
    fail: Exception | None = None
    last: BatchingClient | None = None

    def __init__(self, **kwargs):
        self.senders: dict[str, BatchingSender] = {}
        BatchingClient.last = self

    @classmethod
    def from_connection_string(cls, conn_str, **kwargs):
        return cls()

    def get_queue_sender(self, queue_name, **kwargs):
        return self.senders.setdefault(queue_name, BatchingSender(BatchingClient.capacity, BatchingClient.fail))

    def close(self):
        pass


@pytest.fixture
def servicebus(monkeypatch):
    BatchingClient.capacity, BatchingClient.fail, BatchingClient.last = 4096, None, None
    monkeypatch.setattr(module, "ServiceBusClient", BatchingClient)
    bus = ServiceBusBus(connection_string="Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=v",
                        max_message_bytes=1024)
    yield bus
    bus.close()


def test_each_queue_gets_its_messages_in_one_batch_and_scheduled_ones_by_instant(servicebus):
    later, latest = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    servicebus.publish_many([
        Publication("a", "{}", "m1", session_id="p1"), Publication("b", "{}", "m2"),
        Publication("a", "{}", "m3", session_id="p2"), Publication("a", "{}", "s1", scheduled_at=later),
        Publication("a", "{}", "s2", scheduled_at=latest), Publication("a", "{}", "s3", scheduled_at=later),
    ])
    senders = BatchingClient.last.senders
    assert senders["a"].calls == [("batch", ["m1", "m3"]), ("scheduled", ["s1", "s3"], later),
                                  ("scheduled", ["s2"], latest)]
    assert senders["b"].calls == [("one", "m2")]


def test_a_batch_the_sender_cannot_hold_is_split_keeping_the_order(servicebus):
    BatchingClient.capacity = 1200
    servicebus.publish_many([Publication("a", "x" * 300, f"m{n}") for n in range(8)])
    calls = BatchingClient.last.senders["a"].calls
    assert len(calls) > 1 and all(kind == "batch" for kind, _ in calls)
    assert [m for _, ids in calls for m in ids] == [f"m{n}" for n in range(8)]


def test_a_message_that_fills_a_batch_alone_is_sent_as_itself(servicebus):
    BatchingClient.capacity = 600
    servicebus.publish_many([Publication("a", "x" * 100, "small"), Publication("a", "x" * 900, "large"),
                             Publication("a", "x" * 100, "after")])
    assert BatchingClient.last.senders["a"].calls == [("batch", ["small"]), ("one", "large"), ("batch", ["after"])]


def test_a_refused_message_stops_the_batch_before_anything_is_sent(servicebus):
    with pytest.raises(MessageTooLarge):
        servicebus.publish_many([Publication("a", "{}", "m1"), Publication("b", "x" * 2000, "big")])
    assert BatchingClient.last is None or BatchingClient.last.senders == {}


def test_an_sdk_error_becomes_a_bus_error(servicebus):
    BatchingClient.fail = ServiceBusError("server busy")
    with pytest.raises(BusError) as info:
        servicebus.publish_many([Publication("a", "{}", "m1"), Publication("a", "{}", "m2")])
    assert info.value.__cause__ is BatchingClient.fail
