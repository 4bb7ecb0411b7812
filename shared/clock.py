"""The injectable clock: every dated decision asks it for now."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, tz-aware UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class TravelClock:
    """A clock tests can move: starts at `start` and only changes when told."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("TravelClock needs a tz-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def __getstate__(self) -> dict:
        """Pickled without its lock (a bulk worker gets the parent's clock, standing where it stood)."""
        return {"_now": self.now()}

    def __setstate__(self, state: dict) -> None:
        self._now, self._lock = state["_now"], threading.Lock()

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._now = instant.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta
