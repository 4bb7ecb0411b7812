"""The Service Bus adapter's operations side at its SDK boundary: the `$deadletterqueue`
sub-queue read by peeking, a replay by peek-lock receive → send → complete, and queue
depths from the administration client. Fakes record what the SDK is asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.servicebus import ServiceBusSubQueue

from shared.bus import BusError
from shared.bus import servicebus as module
from shared.bus.servicebus import ServiceBusBus

CONN = "Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=v"
AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@dataclass
class Received:
    """What a ServiceBusReceivedMessage of the dead-letter sub-queue shows."""

    message_id: str
    payload: bytes
    sequence_number: int
    session_id: str | None = "p1"
    delivery_count: int = 10
    dead_letter_reason: str = "MaxDeliveryCountExceeded"
    dead_letter_error_description: str = "Message could not be consumed after 10 delivery attempts."
    enqueued_time_utc: datetime = AT
    application_properties: dict | None = None  # the SDK: bytes keys and values, or None

    @property
    def body(self):
        return iter([self.payload])  # the SDK yields the data sections


@dataclass
class FakeReceiver:
    queue: str
    sub_queue: object
    waiting: list[Received]
    completed: list[str] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)
    locked: set[str] = field(default_factory=set)
    peeks: list[int] = field(default_factory=list)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def peek_messages(self, max_message_count, sequence_number=0):
        """At most 2 at a time (the SDK may bring fewer than asked), from `sequence_number` on."""
        self.peeks.append(sequence_number)
        return [m for m in self.waiting if m.sequence_number >= sequence_number][:min(2, max_message_count)]

    def receive_messages(self, max_message_count, max_wait_time):
        """The next unlocked ones, locked now (abandon unlocks)."""
        free = [m for m in self.waiting if m.message_id not in self.locked]
        self.locked.update(m.message_id for m in free[:max_message_count])
        return free[:max_message_count]

    def complete_message(self, message):
        self.completed.append(message.message_id)
        self.waiting.remove(message)
        self.locked.discard(message.message_id)

    def abandon_message(self, message):
        self.abandoned.append(message.message_id)
        self.locked.discard(message.message_id)


class FakeSender:
    def __init__(self):
        self.sent = []

    def send_messages(self, message):
        self.sent.append(message)

    def close(self):
        pass


class FakeClient:
    dead: dict[str, list[Received]] = {}
    receivers: list[FakeReceiver] = []

    def __init__(self, **kwargs):
        self.senders: dict[str, FakeSender] = {}

    @classmethod
    def from_connection_string(cls, conn_str, **kwargs):
        return cls()

    def get_queue_receiver(self, queue_name, sub_queue=None, **kwargs):
        receiver = FakeReceiver(queue_name, sub_queue, FakeClient.dead.setdefault(queue_name, []))
        FakeClient.receivers.append(receiver)
        return receiver

    def get_queue_sender(self, queue_name, **kwargs):
        return self.senders.setdefault(queue_name, FakeSender())

    def close(self):
        pass


@dataclass
class Runtime:
    active_message_count: int
    scheduled_message_count: int
    dead_letter_message_count: int


class FakeAdmin:
    fail: Exception | None = None

    @classmethod
    def from_connection_string(cls, conn_str):
        return cls()

    def get_queue_runtime_properties(self, queue_name):
        if FakeAdmin.fail:
            raise FakeAdmin.fail
        return Runtime(3, 2, 1)

    def close(self):
        pass


@pytest.fixture(autouse=True)
def fakes(monkeypatch):
    FakeClient.dead, FakeClient.receivers, FakeAdmin.fail = {}, [], None
    monkeypatch.setattr(module, "ServiceBusClient", FakeClient)
    monkeypatch.setattr(module, "ServiceBusAdministrationClient", FakeAdmin)


def test_dead_letters_are_peeked_from_the_dead_letter_sub_queue():
    FakeClient.dead["provisioning-order"] = [Received("order:p1.a:0", b'{"order_id": "p1.a"}', 7)]

    [letter] = ServiceBusBus(connection_string=CONN).dead_letters("provisioning-order")

    assert FakeClient.receivers[0].sub_queue == ServiceBusSubQueue.DEAD_LETTER
    assert (letter.queue, letter.message_id, letter.body) == ("provisioning-order", "order:p1.a:0", b'{"order_id": "p1.a"}')
    assert (letter.reason, letter.delivery_count, letter.dead_lettered_at) == ("MaxDeliveryCountExceeded", 10, AT)
    assert FakeClient.receivers[0].completed == []  # peeking settles nothing
    assert letter.sequence == 7


def test_dead_letters_are_peeked_on_from_a_sequence_number_until_the_limit():
    FakeClient.dead["group-update"] = [Received(f"m{n}", b"{}", n) for n in range(1, 8)]

    letters = ServiceBusBus(connection_string=CONN).dead_letters("group-update", limit=3, start=3)

    assert [(d.message_id, d.sequence) for d in letters] == [("m3", 3), ("m4", 4), ("m5", 5)]
    assert FakeClient.receivers[0].peeks == [3, 5]  # the first peek brought 2: the next starts after them


def test_a_replay_sends_a_copy_to_the_queue_then_completes_the_dead_letter():
    FakeClient.dead["group-update"] = [Received("a", b"{1}", 1), Received("b", b"{2}", 2, session_id="p2")]
    bus = ServiceBusBus(connection_string=CONN)

    new_id = bus.replay("group-update", "b")

    receiver = FakeClient.receivers[0]
    [copy] = bus._get_client().senders["group-update"].sent
    assert new_id == "replay:2:b" and copy.message_id == new_id
    assert (b"".join(copy.body), copy.session_id) == (b"{2}", "p2")
    assert receiver.completed == ["b"] and receiver.abandoned == ["a"]
    assert [m.message_id for m in FakeClient.dead["group-update"]] == ["a"]


def test_a_replayed_message_keeps_the_trace_context_it_carried():
    traceparent = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    FakeClient.dead["group-update"] = [Received("b", b"{2}", 2, application_properties={
        b"traceparent": traceparent, b"Diagnostic-Id": traceparent, b"other": b"x"})]
    bus = ServiceBusBus(connection_string=CONN)

    bus.replay("group-update", "b")

    [copy] = bus._get_client().senders["group-update"].sent
    assert copy.application_properties == {"traceparent": traceparent.decode(), "Diagnostic-Id": traceparent.decode()}


def test_a_replay_looks_past_the_first_batch_and_releases_what_it_held(monkeypatch):
    monkeypatch.setattr(module, "DEAD_LETTER_BATCH", 2)
    FakeClient.dead["group-update"] = [Received(f"m{n}", b"{}", n) for n in range(5)]
    bus = ServiceBusBus(connection_string=CONN)

    assert bus.replay("group-update", "m4") == "replay:4:m4"

    receiver = FakeClient.receivers[0]
    assert receiver.abandoned == ["m0", "m1", "m2", "m3"] and receiver.locked == set()


def test_replaying_a_message_that_is_not_there_sends_nothing():
    FakeClient.dead["group-update"] = [Received("a", b"{1}", 1)]
    bus = ServiceBusBus(connection_string=CONN)

    assert bus.replay("group-update", "zzz") is None
    assert bus._get_client().senders == {}


def test_depth_comes_from_the_administration_client_and_its_failure_is_a_bus_error():
    bus = ServiceBusBus(connection_string=CONN)
    depth = bus.depth("person-update")
    assert (depth.active, depth.scheduled, depth.dead_lettered) == (3, 2, 1)

    FakeAdmin.fail = ClientAuthenticationError("no Manage right")
    with pytest.raises(BusError, match="ClientAuthenticationError"):
        bus.depth("person-update")
