"""The Service Bus adapter at the SDK boundary: a fake client records what it is asked."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import ServiceBusConnectionError, ServiceBusError

from shared.bus import BusError, LocalBus, open_bus
from shared.bus import servicebus as module
from shared.bus.servicebus import ServiceBusBus
from shared.config import Settings, SettingsError


class FakeSender:
    def __init__(self, queue: str, fail: BaseException | None = None):
        self.queue = queue
        self.fail = fail
        self.sent: list[ServiceBusMessage] = []
        self.scheduled: list[tuple[ServiceBusMessage, datetime]] = []
        self.closed = False

    def send_messages(self, message):
        if self.fail:
            raise self.fail
        self.sent.append(message)

    def schedule_messages(self, message, schedule_time_utc):
        self.scheduled.append((message, schedule_time_utc))
        return [1]

    def close(self):
        self.closed = True


class FakeClient:
    instances: list[FakeClient] = []
    fail: BaseException | None = None

    def __init__(self, fully_qualified_namespace=None, credential=None, conn_str=None):
        self.namespace = fully_qualified_namespace
        self.credential = credential
        self.conn_str = conn_str
        self.senders: dict[str, FakeSender] = {}
        self.closed = False
        FakeClient.instances.append(self)

    @classmethod
    def from_connection_string(cls, conn_str, **kwargs):
        return cls(conn_str=conn_str)

    def get_queue_sender(self, queue_name, **kwargs):
        sender = FakeSender(queue_name, FakeClient.fail)
        self.senders[queue_name] = sender
        return sender

    def close(self):
        self.closed = True


class FakeCredential:
    created = 0

    def __init__(self):
        FakeCredential.created += 1
        self.closed = False

    def close(self):
        self.closed = True


@pytest.fixture(autouse=True)
def fakes(monkeypatch):
    FakeClient.instances = []
    FakeClient.fail = None
    FakeCredential.created = 0
    monkeypatch.setattr(module, "ServiceBusClient", FakeClient)
    monkeypatch.setattr(module, "DefaultAzureCredential", FakeCredential)


def test_one_client_per_bus_reused_and_default_credential():
    bus = ServiceBusBus(fully_qualified_namespace="roster.servicebus.windows.net")
    assert FakeClient.instances == []  # lazy
    bus.publish("person-changed", "{}", "m1", session_id="p1")
    bus.publish("person-changed", "{}", "m2", session_id="p1")
    bus.publish("notification", "{}", "m3")
    (client,) = FakeClient.instances
    assert client.namespace == "roster.servicebus.windows.net"
    assert isinstance(client.credential, FakeCredential)
    assert FakeCredential.created == 1
    assert set(client.senders) == {"person-changed", "notification"}
    assert len(client.senders["person-changed"].sent) == 2


def test_client_created_once_under_concurrency():
    bus = ServiceBusBus(fully_qualified_namespace="roster.servicebus.windows.net")
    threads = [threading.Thread(target=bus.publish, args=("q", "{}", f"m{i}")) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (client,) = FakeClient.instances
    assert len(client.senders["q"].sent) == 20


def test_given_credential_is_used():
    credential = object()
    bus = ServiceBusBus(
        fully_qualified_namespace="ns.servicebus.windows.net", credential=credential
    )
    bus.publish("q", "{}", "m1")
    assert FakeClient.instances[0].credential is credential
    assert FakeCredential.created == 0


def test_connection_string():
    conn = "Endpoint=sb://localhost;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;"
    bus = ServiceBusBus(connection_string=conn)
    bus.publish("q", "{}", "m1")
    (client,) = FakeClient.instances
    assert client.conn_str == conn
    assert FakeCredential.created == 0


def test_message_fields():
    bus = ServiceBusBus(
        connection_string="Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=v"
    )
    bus.publish("person-changed", '{"person_id": "p1"}', "m1", session_id="p1")
    (msg,) = FakeClient.instances[0].senders["person-changed"].sent
    assert isinstance(msg, ServiceBusMessage)
    assert msg.message_id == "m1"
    assert msg.session_id == "p1"
    assert msg.content_type == "application/json"
    assert b"".join(msg.body) == b'{"person_id": "p1"}'


def test_scheduled_publish_uses_schedule_messages():
    bus = ServiceBusBus(
        connection_string="Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=v"
    )
    at = datetime(2025, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    bus.publish("provisioning-order", "{}", "o1", session_id="p1", scheduled_at=at)
    sender = FakeClient.instances[0].senders["provisioning-order"]
    assert sender.sent == []
    ((msg, when),) = sender.scheduled
    assert msg.message_id == "o1"
    assert when == at and when.tzinfo is not None and when.utcoffset() == timedelta(0)


def test_naive_scheduled_at_rejected():
    bus = ServiceBusBus(fully_qualified_namespace="ns.servicebus.windows.net")
    with pytest.raises(ValueError):
        bus.publish("q", "{}", "m1", scheduled_at=datetime(2025, 3, 1, 10, 0))


@pytest.mark.parametrize(
    "error", [ServiceBusError("server busy"), ServiceBusConnectionError(message="down")]
)
def test_sdk_error_becomes_bus_error(error):
    FakeClient.fail = error
    bus = ServiceBusBus(fully_qualified_namespace="ns.servicebus.windows.net")
    with pytest.raises(BusError) as info:
        bus.publish("q", "{}", "m1")
    assert info.value.__cause__ is error


def test_close_closes_senders_client_and_own_credential():
    bus = ServiceBusBus(fully_qualified_namespace="ns.servicebus.windows.net")
    bus.publish("a", "{}", "m1")
    bus.publish("b", "{}", "m2")
    (client,) = FakeClient.instances
    credential = client.credential
    bus.close()
    assert client.closed and credential.closed
    assert all(s.closed for s in client.senders.values())
    bus.close()


def test_needs_exactly_one_target():
    with pytest.raises(ValueError):
        ServiceBusBus()
    with pytest.raises(ValueError):
        ServiceBusBus(fully_qualified_namespace="ns", connection_string="Endpoint=sb://x/")


def test_open_bus_local(tmp_path):
    path = tmp_path / "nested" / "bus.db"
    bus = open_bus(Settings(bus="local", bus_path=str(path)))
    try:
        assert isinstance(bus, LocalBus)
        assert path.parent.is_dir()
    finally:
        bus.close()


def test_open_bus_servicebus():
    bus = open_bus(Settings(bus="servicebus", servicebus_namespace="ns.servicebus.windows.net"))
    assert isinstance(bus, ServiceBusBus)
    bus.publish("q", "{}", "m1")
    assert FakeClient.instances[0].namespace == "ns.servicebus.windows.net"
    bus = open_bus(Settings(bus="servicebus", servicebus_connection="Endpoint=sb://x/"))
    bus.publish("q", "{}", "m1")
    assert FakeClient.instances[1].conn_str == "Endpoint=sb://x/"


def test_open_bus_servicebus_without_target():
    with pytest.raises(SettingsError, match="ServiceBusConnection__fullyQualifiedNamespace"):
        open_bus(Settings(bus="servicebus"))
    with pytest.raises(SettingsError, match="ROSTER_BUS"):
        open_bus(Settings(bus="kafka"))


def test_the_current_trace_context_travels_in_the_messages_application_properties():
    from shared import telemetry
    from tests.helpers.telemetry import recording

    bus = ServiceBusBus(connection_string="Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=v")
    with recording(), telemetry.span("roster.work"):
        expected = telemetry.carrier()
        bus.publish("person-changed", "{}", "m1", session_id="p1")
    (msg,) = FakeClient.instances[0].senders["person-changed"].sent
    assert msg.application_properties == expected
    assert set(expected) == {"traceparent", "Diagnostic-Id"}


def test_given_properties_are_sent_as_they_are_and_none_when_telemetry_is_off():
    relayed = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    bus = ServiceBusBus(connection_string="Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=v")
    bus.publish("person-changed", "{}", "m1", properties=relayed)  # an outbox row's, relayed later
    bus.publish("person-changed", "{}", "m2")  # telemetry off: nothing to carry
    first, second = FakeClient.instances[0].senders["person-changed"].sent
    assert first.application_properties == relayed
    assert not second.application_properties
