"""Timer triggers: NCRONTAB with seconds first, TimeSpan, run_on_startup, the sample tick."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.functions.decorators.timer import TimerTrigger

from devhost import Host
from devhost.activity import Activity
from devhost.index import HostFunction
from devhost.timers import Schedule, TimerRunner, schedule_zone
from tests.devhost.hosts import records

T0 = datetime(2026, 11, 2, 9, 0, 0, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 */5 * * * *", T0, T0 + timedelta(minutes=5)),
        ("*/10 * * * * *", T0 + timedelta(seconds=1), T0 + timedelta(seconds=10)),
        ("30 0 9 * * *", T0, T0 + timedelta(seconds=30)),
        ("0 30 9 * * 1-5", T0, T0 + timedelta(minutes=30)),
        ("0 0 0 * * 6", T0, datetime(2026, 11, 7, tzinfo=UTC)),  # next Saturday
        # NCrontab needs both day fields: the 13th that is a Friday (13 Nov 2026)
        ("0 0 12 13 * 5", T0, datetime(2026, 11, 13, 12, tzinfo=UTC)),
        ("0 0 12 14 * 5", T0, datetime(2027, 5, 14, 12, tzinfo=UTC)),
        ("00:00:30", T0, T0 + timedelta(seconds=30)),
        ("1.00:00:00", T0, T0 + timedelta(days=1)),
    ],
)
def test_next_occurrence(expression: str, after: datetime, expected: datetime) -> None:
    assert Schedule.parse(expression).next_after(after) == expected


@pytest.mark.parametrize("bad", ["*/5 * * * *", "0 61 * * * *", "every minute", "00:00:00"])
def test_bad_schedule(bad: str) -> None:
    with pytest.raises(ValueError):
        Schedule.parse(bad)


def test_website_time_zone() -> None:
    assert str(schedule_zone({"WEBSITE_TIME_ZONE": "Europe/Brussels"})) == "Europe/Brussels"
    assert schedule_zone({"WEBSITE_TIME_ZONE": "W. Europe Standard Time"}) is UTC
    assert schedule_zone({}) is UTC


def test_run_on_startup_fires_at_once() -> None:
    calls = []
    trigger = TimerTrigger(name="timer", schedule="0 0 0 1 1 *", run_on_startup=True)
    fn = HostFunction(
        name="yearly",
        kind="timer",
        trigger=trigger,
        arg="timer",
        func=lambda timer: calls.append(timer.past_due),
        schedule="0 0 0 1 1 *",
    )
    stop = threading.Event()
    runner = TimerRunner(fn, Activity(), stop)
    thread = threading.Thread(target=runner.run)
    thread.start()
    deadline = time.monotonic() + 5
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(5)
    assert calls == [False] and not thread.is_alive()


def test_failing_timer_keeps_its_schedule(caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def boom(timer: object) -> None:
        calls.append(1)
        raise ValueError("nope")

    trigger = TimerTrigger(name="timer", schedule="* * * * * *")
    fn = HostFunction(
        name="boom", kind="timer", trigger=trigger, arg="timer", func=boom, schedule="* * * * * *"
    )
    stop = threading.Event()
    thread = threading.Thread(target=TimerRunner(fn, Activity(), stop).run)
    thread.start()
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(5)
    assert len(calls) >= 2
    assert any("ValueError" in r.getMessage() and "boom" in r.getMessage() for r in caplog.records)


def test_sample_timer_fires_every_second(host: Host) -> None:
    ticks = Path(host.settings_path).parent / "ticks.jsonl"
    deadline = time.monotonic() + 5
    while len(records(ticks)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(records(ticks)) >= 2
    assert records(ticks)[0] == {"past_due": False}
    host.stop()
    count = len(records(ticks))
    time.sleep(1.3)
    assert len(records(ticks)) == count  # stopped with the host
