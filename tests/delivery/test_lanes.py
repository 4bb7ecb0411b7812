"""Bounded concurrency per target, kept by the bus: with four workers receiving batches as
the Functions host's session receivers do, a slow target is never called more often at once
than its `concurrency` (its lanes), and while it holds its calls the other target's orders
are all delivered (docs/targets.md, "Connectors at speed")."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from devhost.pump import to_message
from shared.bus.local import LocalBus
from shared.connectors.pool import POOL
from shared.models.provisioning import OrderState
from shared.services.provisioning import lane
from tests.delivery.chain import SECRET_ENV, finance_group, hire, orders_of, webhook_target
from tests.helpers.hooks import hook

WORKERS = 4


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "delivery-secret")
    yield
    POOL.close_all()


def workers(rt, clock, stop: threading.Event) -> list[threading.Thread]:
    """WORKERS threads, each with its own bus connection, handing batches to the trigger."""
    from functions.provisioning import provisioning_order_queue

    trigger = provisioning_order_queue._function.get_user_function()
    queue = rt.settings.queue("provisioning-order")

    def work() -> None:
        bus = LocalBus(rt.bus.path, clock=clock)
        try:
            while not stop.is_set():
                batch = bus.receive_batch(queue, 250)
                if not batch:
                    stop.wait(0.01)
                    continue
                trigger([to_message(d) for d in batch])
                bus.complete_batch(batch)
        finally:
            bus.close()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    return threads


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_a_slow_target_gets_at_most_its_concurrency_and_holds_up_no_other_target(rt, clock):
    held = threading.Event()
    stop = threading.Event()
    with hook(hold=held) as slow, hook() as quick:
        finance_group(rt)
        target = webhook_target(rt, "slow", slow.url, concurrency=2, timeout_seconds=20)
        webhook_target(rt, "quick", quick.url, concurrency=2)
        persons = [hire(rt, n) for n in range(10)]
        busy = len({lane(o, target) for o in orders_of(rt, "slow", persons)})  # 2, unless all in one
        threads = workers(rt, clock, stop)
        try:
            quick_done = wait_for(lambda: len(set(quick.order_ids())) == 10)
            slow_busy = wait_for(lambda: slow.in_flight == busy)
            most_while_held = slow.most_in_flight
            quick_states = {o.state for o in orders_of(rt, "quick", persons)}
            held.set()
            slow_done = wait_for(lambda: {o.state for o in orders_of(rt, "slow", persons)} == {OrderState.executed})
        finally:
            held.set()
            stop.set()
            for thread in threads:
                thread.join(10)

    assert quick_done and quick_states == {OrderState.executed}  # delivered while the slow target held
    assert slow_busy and most_while_held == busy  # one call per lane at once, never more
    assert slow.most_in_flight <= 2
    assert slow_done
    assert sorted(set(slow.order_ids())) == sorted(o.id for o in orders_of(rt, "slow", persons))
