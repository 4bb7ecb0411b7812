"""The process's ports, built once from the settings; tests install their own."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from shared import outbound
from shared.bus import Bus, open_bus
from shared.clock import Clock, SystemClock
from shared.config import Settings
from shared.connectors.pool import POOL
from shared.mail import Mailer, open_mailer
from shared.store import TableStore, open_store
from shared.tickets import Tracker, open_tracker


@dataclass
class Runtime:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    store: TableStore | None = None
    bus: Bus | None = None
    mailer: Mailer | None = None
    tracker: Tracker | None = None
    closers: list[Callable[[], None]] = field(default_factory=list, repr=False, compare=False)  # run by close()

    def __post_init__(self) -> None:
        if self.store is None:
            self.store = open_store(self.settings.store)
        if self.bus is None:
            self.bus = open_bus(self.settings, self.clock)

    @cached_property
    def mail(self) -> Mailer:
        return self.mailer or open_mailer(self.settings, self.store, self.clock)

    @cached_property
    def tickets(self) -> Tracker:
        """The request desk's ticket mirror (ROSTER_TICKETS; `none` unless configured)."""
        return self.tracker or open_tracker(os.environ)

    def close(self) -> None:
        """Run the closers (e.g. the bulk load's workers), close the bus, the store and the
        connectors' pooled HTTP clients."""
        while self.closers:
            self.closers.pop()()
        POOL.close_all()
        self.bus.close()
        self.store.close()


_current: Runtime | None = None
_pinned = False
_source: tuple = ()
_lock = threading.Lock()


def _environment() -> tuple:
    """The settings part of the environment: a runtime is rebuilt when it changes (a host
    restarted with other settings), never on the hot path otherwise."""
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(("ROSTER_", "ServiceBus", "SENDGRID"))
                        or k.endswith("Queue")))


def runtime() -> Runtime:
    """The process-wide runtime, created from the environment on first use."""
    global _current, _source
    if _pinned and _current is not None:
        return _current
    source = _environment()
    if _current is None or source != _source:
        with _lock:
            if _current is None or source != _source:
                _current, _source = Runtime(Settings.from_env()), source
    return _current


# Outbound URLs are checked against the runtime's settings (shared/outbound.py).
outbound.installed_policy = lambda: _current.settings.outbound if _current is not None else None


def use_runtime(value: Runtime | None) -> None:
    """Install a runtime (tests), or None to build a fresh one from the environment."""
    global _current, _pinned
    with _lock:
        _current, _pinned = value, value is not None


def release_runtime() -> None:
    """Close the runtime built from the environment and forget it (a host stopping: its store,
    bus, pooled clients and bulk workers go with it); the next `runtime()` builds afresh. A
    runtime a test installed is the test's own and stays open."""
    global _current, _source
    with _lock:
        if _pinned or _current is None:
            return
        released, _current, _source = _current, None, ()
    released.close()
