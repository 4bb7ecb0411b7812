"""Timer triggers: NCRONTAB schedules (six fields, seconds first) or TimeSpan intervals.

As in Azure, schedules are in UTC unless WEBSITE_TIME_ZONE names an IANA time zone; runs of
one timer never overlap, and occurrences missed while it ran are skipped.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from azure.functions.timer import TimerRequest
from croniter import croniter

from devhost.activity import Activity, failure

if TYPE_CHECKING:
    from devhost.index import HostFunction

log = logging.getLogger("devhost.timers")

_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})")
PAST_DUE_AFTER = timedelta(seconds=1)


@dataclass(frozen=True)
class Schedule:
    """An NCRONTAB expression or a TimeSpan (`hh:mm:ss`, `d.hh:mm:ss`) interval."""

    expression: str
    interval: timedelta | None = None

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        text = expression.strip()
        span = _TIMESPAN.fullmatch(text)
        if span:
            days, hours, minutes, seconds = (int(g or 0) for g in span.groups())
            interval = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
            if interval <= timedelta(0):
                raise ValueError(f"timer interval {expression!r} must be positive")
            return cls(text, interval)
        if len(text.split()) != 6:
            raise ValueError(
                f"timer schedule {expression!r} is not NCRONTAB with six fields "
                "(second minute hour day month day-of-week)"
            )
        if not croniter.is_valid(text, second_at_beginning=True):
            raise ValueError(f"timer schedule {expression!r} is not a valid NCRONTAB expression")
        return cls(text)

    def next_after(self, instant: datetime) -> datetime:
        """The first occurrence strictly after `instant` (tz-aware, kept in its zone)."""
        if self.interval is not None:
            return instant + self.interval
        # NCrontab requires both day fields to match (AND), unlike Vixie cron's OR.
        it = croniter(self.expression, instant, second_at_beginning=True, day_or=False)
        return it.get_next(datetime)


def schedule_zone(environ: Mapping[str, str] | None = None) -> tzinfo:
    """WEBSITE_TIME_ZONE when it is an IANA name, else UTC."""
    name = (environ if environ is not None else os.environ).get("WEBSITE_TIME_ZONE", "")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("WEBSITE_TIME_ZONE %r is not an IANA time zone; timers use UTC", name)
    return UTC


class TimerRunner:
    """Runs one timer function on its schedule in a thread until `stop` is set."""

    def __init__(
        self,
        function: HostFunction,
        activity: Activity,
        stop: threading.Event,
        *,
        zone: tzinfo = UTC,
        now: Callable[[], datetime] | None = None,
    ):
        assert function.schedule is not None
        self.function = function
        self.schedule = Schedule.parse(function.schedule)
        self.activity = activity
        self.stop = stop
        self.zone = zone
        self._now = now or (lambda: datetime.now(self.zone))
        self.last: datetime | None = None
        self.runs = 0

    def run(self) -> None:
        """The thread's body."""
        if self.function.trigger.run_on_startup:
            now = self._now()
            self.fire(now, self.schedule.next_after(now))
        while not self.stop.is_set():
            due = self.schedule.next_after(max(self._now(), self.last or self._now()))
            while (remaining := (due - self._now()).total_seconds()) > 0:
                if self.stop.wait(min(remaining, 1.0)):
                    return
            self.fire(due, self.schedule.next_after(due))

    def fire(self, due: datetime, following: datetime) -> None:
        """One invocation for the occurrence `due`."""
        started = self._now()
        request = TimerRequest(
            past_due=started - due > PAST_DUE_AFTER,
            schedule_status={
                "Last": (self.last or datetime.min.replace(tzinfo=UTC)).isoformat(),
                "Next": following.isoformat(),
                "LastUpdated": started.isoformat(),
            },
            schedule={"AdjustForDST": True},
        )
        with self.activity.invocation():
            clock = time.perf_counter()
            try:
                self.function.call(request)
            except Exception as exc:
                log.error(
                    "Executed 'Functions.%s' (Failed, timer): %s", self.function.name, failure(exc)
                )
                log.debug("Functions.%s failed", self.function.name, exc_info=True)
            else:
                log.info(
                    "Executed 'Functions.%s' (Succeeded, timer, Duration=%dms)",
                    self.function.name,
                    (time.perf_counter() - clock) * 1000,
                )
            finally:
                self.last = due
                self.runs += 1
