"""One slow target never holds up the others: an attempt is one bounded call, a transient
fault schedules the next attempt, and a target that keeps failing is paused by its circuit
breaker while the other targets' orders flow (docs/operations.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.connectors import Outcome
from shared.models.circuit import CircuitState
from shared.models.provisioning import OrderState
from shared.services import circuits
from shared.store.audit import audit_trail
from shared.store.circuits import CIRCUITS, CircuitRepository
from tests.delivery.chain import (
    SECRET_ENV,
    deliver_due,
    finance_group,
    hire,
    orders_of,
    webhook_target,
)
from tests.delivery.servers import Receiver


@pytest.fixture
def extra_settings() -> dict[str, str]:
    return {"ROSTER_CIRCUIT_FAILURES": "2", "ROSTER_CIRCUIT_COOLDOWN_SECONDS": "60"}


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "delivery-secret")


def test_a_hanging_target_does_not_hold_up_another_targets_orders_and_resumes(rt, clock):
    with Receiver(status=0) as stuck, Receiver(status=204) as quick:
        finance_group(rt)
        webhook_target(rt, "stuck", stuck.url, timeout_seconds=0.3, retries=5)
        webhook_target(rt, "quick", quick.url)
        persons = [hire(rt, n) for n in range(4)]

        deliver_due(rt)  # the clock stands still: only what is due now

        assert {o.state for o in orders_of(rt, "quick", persons)} == {OrderState.executed}
        assert sorted(quick.orders) == sorted(o.id for o in orders_of(rt, "quick", persons))
        waiting = orders_of(rt, "stuck", persons)
        assert {o.state for o in waiting} == {OrderState.pending}
        assert all(o.next_attempt_at > clock.now() and o.error for o in waiting)
        assert stuck.requests == 2  # the circuit opened at the second timeout: no more calls
        circuit, _ = CircuitRepository(rt.store).get("stuck")
        assert circuit.state == CircuitState.open and circuit.last_fault == "timed out"

        stuck.answer(200)
        clock.advance(timedelta(seconds=61))
        while deliver_due(rt):
            pass

        assert {o.state for o in orders_of(rt, "stuck", persons)} == {OrderState.executed}
        assert sorted(stuck.orders) == sorted(o.id for o in orders_of(rt, "stuck", persons))
        assert CircuitRepository(rt.store).get("stuck")[0].state == CircuitState.closed
        actions = [r["action"] for r in audit_trail(rt.store.table("circuits"), CIRCUITS)]
        assert actions == ["circuit.opened", "circuit.closed"]


def test_a_probe_that_never_reports_frees_the_way_after_another_cooldown(rt, clock):
    with Receiver(status=500) as failing:
        finance_group(rt)
        target = webhook_target(rt, "flaky", failing.url)
        for _ in range(2):  # the threshold: the circuit opens
            circuits.record(rt, target, Outcome(OrderState.pending, "HTTP 500"))
        clock.advance(timedelta(seconds=60))
        assert circuits.admit(rt, target) is None  # this caller is the probe …
        assert circuits.admit(rt, target) == clock.now() + timedelta(seconds=60)  # … others wait

        clock.advance(timedelta(seconds=60))  # the probe's process died without a word

        assert circuits.admit(rt, target) is None
