"""A target's circuit breaker: a target that keeps failing is paused, then probed.

closed → (`threshold` transient faults in a row) → open → (after `cooldown`) one order is
let through as a probe (half-open) → its success closes the circuit, its fault opens it
again. While open, or while a probe is out, other orders of the target wait (scheduled)
instead of calling it. State lives in the store so every process sees the same circuit
(docs/operations.md, "Circuit breaker").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime

from shared.models.base import Model


class CircuitState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half-open"


class Circuit(Model):
    target_id: str
    state: CircuitState = CircuitState.closed
    failures: int = 0  # transient faults in a row
    opened_at: AwareDatetime | None = None
    probe_at: AwareDatetime | None = None  # when the current probe was let through
    last_fault: str | None = None  # the last fault's note: no personal data
    updated_at: AwareDatetime | None = None

    def wait_until(self, now: datetime, cooldown: timedelta) -> datetime | None:
        """When an order may next call the target, if not now. A probe that never reported
        (its process died) frees the way after another `cooldown`."""
        if self.state == CircuitState.open and self.opened_at is not None:
            until = self.opened_at + cooldown
        elif self.state == CircuitState.half_open and self.probe_at is not None:
            until = self.probe_at + cooldown
        else:
            return None
        return until if now < until else None

    def next_probe_at(self, cooldown: timedelta) -> datetime | None:
        """When an open circuit lets its probe through; None unless open."""
        if self.state != CircuitState.open or self.opened_at is None:
            return None
        return self.opened_at + cooldown

    def probing(self, now: datetime) -> Circuit:
        """The circuit once an order is let through after the cooldown (a no-op if closed)."""
        if self.state == CircuitState.closed:
            return self
        return self.model_copy(update={"state": CircuitState.half_open, "probe_at": now, "updated_at": now})

    def after_fault(self, note: str, now: datetime, threshold: int) -> Circuit:
        """A transient fault: count it; open at `threshold` in a row, or when a probe fails."""
        failures = self.failures + 1
        opens = self.state != CircuitState.closed or failures >= threshold
        update = {"failures": failures, "last_fault": note, "updated_at": now}
        if opens:
            update |= {"state": CircuitState.open, "opened_at": now, "probe_at": None}
        return self.model_copy(update=update)

    def after_answer(self, now: datetime) -> Circuit:
        """The target answered (success, or a refusal another attempt would not cure)."""
        return Circuit(target_id=self.target_id, updated_at=now)

    @property
    def quiet(self) -> bool:
        """Closed with no fault counted: nothing worth writing."""
        return self.state == CircuitState.closed and self.failures == 0
