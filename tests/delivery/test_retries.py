"""Retries are scheduled redeliveries: a transient fault leaves the order Pending with its
next attempt time, and a `provisioning-order` message scheduled for then; the handler never
sleeps. Attempts, each call's timeout and the Retry-After honoured are capped."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.models.provisioning import OrderState
from shared.services import delivery, orders
from shared.services.redelivery import MAX_RETRY_DELAY, retry_delay
from tests.delivery import chain
from tests.delivery.servers import Receiver


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv(chain.SECRET_ENV, "delivery-secret")


def test_the_wait_doubles_from_five_seconds_and_never_passes_fifteen_minutes():
    assert [retry_delay(n, None).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert retry_delay(2, 30.0) == timedelta(seconds=30)
    assert retry_delay(20, None) == retry_delay(1, 10**9) == MAX_RETRY_DELAY


def test_a_transient_fault_schedules_the_next_attempt_with_backoff_then_errors(rt, clock):
    with Receiver(status=503) as failing:
        chain.finance_group(rt)
        chain.webhook_target(rt, "flaky", failing.url, retries=3)
        person = chain.hire(rt, 1)
        start = clock.now()

        chain.deliver_due(rt)
        [order] = chain.orders_of(rt, "flaky", [person])
        assert (order.state, order.failures, order.attempts) == (OrderState.pending, 1, 1)
        assert order.next_attempt_at == start + timedelta(seconds=5)
        assert chain.deliver_due(rt) == 0  # nothing due before its time: no busy loop

        clock.advance(timedelta(seconds=5))
        chain.deliver_due(rt)
        [order] = chain.orders_of(rt, "flaky", [person])
        assert order.next_attempt_at == clock.now() + timedelta(seconds=10)

        clock.advance(timedelta(seconds=10))
        chain.deliver_due(rt)

        [order] = chain.orders_of(rt, "flaky", [person])
        assert order.state == OrderState.errored
        assert order.error == "HTTP 503 after 3 attempts"
        assert failing.requests == 3
        notes = [e.note for e in order.history if e.by == "connector:webhook"]
        assert notes[0].startswith("HTTP 503 (attempt 1 of 3); next attempt at")


def test_staff_retry_of_an_errored_order_gets_a_fresh_round_of_attempts(rt, clock):
    with Receiver(status=503) as failing:
        chain.finance_group(rt)
        chain.webhook_target(rt, "flaky", failing.url, retries=1)
        person = chain.hire(rt, 1)
        chain.deliver_due(rt)
        [order] = chain.orders_of(rt, "flaky", [person])
        assert order.state == OrderState.errored

        failing.answer(200)
        orders.retry(rt, order.id, "staff")
        chain.deliver_due(rt)

        [order] = chain.orders_of(rt, "flaky", [person])
        assert (order.state, order.failures, order.next_attempt_at) == (OrderState.executed, 0, None)


def test_a_retry_after_is_honoured_up_to_fifteen_minutes(rt, clock):
    with Receiver(status=429, retry_after="7") as polite, Receiver(status=429, retry_after="86400") as greedy:
        chain.finance_group(rt)
        chain.webhook_target(rt, "polite", polite.url)
        chain.webhook_target(rt, "greedy", greedy.url)
        person = chain.hire(rt, 1)

        chain.deliver_due(rt)

        [first] = chain.orders_of(rt, "polite", [person])
        [second] = chain.orders_of(rt, "greedy", [person])
        assert first.next_attempt_at == clock.now() + timedelta(seconds=7)
        assert second.next_attempt_at == clock.now() + timedelta(minutes=15)


def test_an_early_redelivery_is_put_back_on_schedule_without_calling_the_target(rt, clock):
    with Receiver(status=500) as failing:
        chain.finance_group(rt)
        chain.webhook_target(rt, "flaky", failing.url)
        person = chain.hire(rt, 1)
        chain.deliver_due(rt)
        [order] = chain.orders_of(rt, "flaky", [person])
        queue = rt.settings.queue("provisioning-order")
        scheduled = rt.bus.active_count(queue)

        again = delivery.execute(rt, order.id)  # as if the first message came back

        assert again.next_attempt_at == order.next_attempt_at
        assert failing.requests == 1
        assert rt.bus.active_count(queue) == scheduled == 1  # the same id: no second message


