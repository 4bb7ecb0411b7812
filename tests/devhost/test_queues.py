"""Service Bus triggers pumped from the local bus: complete, abandon, dead-letter, drain."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devhost import Host
from shared.bus.local import MAX_DELIVERY_REASON, LocalBus
from tests.devhost.hosts import QUEUE, make_host, records


@pytest.fixture
def bus(host: Host):
    assert host.bus_path is not None
    b = LocalBus(host.bus_path)
    yield b
    b.close()


def messages(host: Host) -> list[dict]:
    return records(Path(host.settings_path).parent / "messages.jsonl")


def test_bus_is_the_data_dir_file(host: Host, tmp_path: Path) -> None:
    assert Path(host.bus_path or "") == tmp_path / "data" / "bus.db"


def test_message_is_delivered_and_completed(host: Host, bus: LocalBus) -> None:
    bus.publish(QUEUE, b'{"n": 1}', "m-1", session_id="s-1")
    host.drain(timeout=10)
    assert messages(host) == [
        {"body": '{"n": 1}', "message_id": "m-1", "session_id": "s-1", "delivery_count": 1}
    ]
    assert bus.active_count(QUEUE) == 0
    assert bus.dead_letters(QUEUE) == []


def test_failing_message_is_abandoned_redelivered_then_dead_lettered(
    host: Host, bus: LocalBus
) -> None:
    bus.publish(QUEUE, b"boom", "m-boom")
    bus.publish(QUEUE, b"fine", "m-fine")
    host.drain(timeout=10)
    boom = [m["delivery_count"] for m in messages(host) if m["body"] == "boom"]
    assert boom == [1, 2, 3]  # the host fixture's bus dead-letters after three deliveries
    assert [m["body"] for m in messages(host)].count("fine") == 1
    (dead,) = bus.dead_letters(QUEUE)
    assert (dead.message_id, dead.reason, dead.delivery_count) == ("m-boom", MAX_DELIVERY_REASON, 3)
    assert bus.active_count(QUEUE) == 0


def test_failure_log_names_the_type_not_the_body(
    host: Host, bus: LocalBus, caplog: pytest.LogCaptureFixture
) -> None:
    bus.publish(QUEUE, b"boom", "m-log")
    host.drain(timeout=10)
    failures = [
        r.getMessage()
        for r in caplog.records
        if r.name == "devhost.pump" and "Failed" in r.getMessage()
    ]
    assert len(failures) == 3
    assert all("RuntimeError" in f and "on_sample" in f for f in failures)
    assert not any("boom" in f.split("Traceback")[0] or "m-log" in f for f in failures)


def test_session_messages_come_in_order(host: Host, bus: LocalBus) -> None:
    for n in range(5):
        bus.publish(QUEUE, f"s{n}".encode(), f"m-{n}", session_id="one")
    host.drain(timeout=10)
    assert [m["body"] for m in messages(host)] == ["s0", "s1", "s2", "s3", "s4"]


def test_scheduled_message_waits_and_drain_does_not(host: Host, bus: LocalBus) -> None:
    bus.publish(QUEUE, b"later", "m-later", scheduled_at=datetime.now(UTC) + timedelta(seconds=1))
    started = time.monotonic()
    host.drain(timeout=10)  # a message that is not due yet does not hold drain up
    assert time.monotonic() - started < 0.9
    assert messages(host) == []
    deadline = time.monotonic() + 10
    while not messages(host) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [m["body"] for m in messages(host)] == ["later"]


def test_two_workers_share_a_queue(tmp_path: Path) -> None:
    with make_host(tmp_path, queue_concurrency=2) as host:
        assert len(host.pumps) == 2
        bus = LocalBus(host.bus_path or "")
        for n in range(20):
            bus.publish(QUEUE, f"{n}".encode(), f"m-{n}")
        host.drain(timeout=10)
        assert sorted(int(m["body"]) for m in messages(host)) == list(range(20))
        bus.close()


def test_other_bus_is_not_pumped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROSTER_BUS", "servicebus")
    with make_host(tmp_path) as host:
        (fn,) = [f for f in host.functions if f.name == "on_sample"]
        assert fn.disabled and "ROSTER_BUS=servicebus" in fn.disabled
        assert host.pumps == [] and host.bus_path is None
        host.drain(timeout=5)


def test_drain_needs_a_running_host(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        make_host(tmp_path).drain(1)
