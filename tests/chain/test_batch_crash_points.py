"""Crash points of the batched dispatch: three hires whose orders for a batch webhook target
travel in one lane and reach the batch trigger together; the process dies before each store
write, publish and settlement in turn; a fresh process on the same files recovers (relay,
drain, sweep) and every order is Executed once its batch is redelivered — the receiver may
see an order again, always under its own id and with the same content
(docs/provisioning.md, Dispatch; docs/recovery.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.clock import TravelClock
from shared.connectors.pool import POOL
from shared.faults import FaultPlan, SimulatedCrash
from shared.models.group import GroupIn
from shared.models.provisioning import OrderState, Policy, Target
from shared.services import groups
from shared.services.chain import enqueue
from shared.store.orders import OrderRepository
from shared.store.persons import PersonRepository
from shared.store.targets import TargetRepository
from tests.chain.harness import (
    SECRET,
    SECRET_ENV,
    Roster,
    assert_invariants,
    copy_data,
    receiver,
    restart,
)
from tests.chain.test_crash_points import FIN_RULE, HIRED, START, update

HIRES = ("A", "B", "E")


@pytest.fixture
def hook(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv("ROSTER_ALLOW_LOOPBACK", "true")
    with receiver() as r:
        yield r
    POOL.close_all()


@pytest.fixture
def base(tmp_path, hook) -> Path:
    """A batch webhook target (one lane, batches of ten) granted to Finance employees."""
    path = tmp_path / "template"
    roster = Roster(path, TravelClock(START))
    settings = {"url": hook.url, "secret_env": SECRET_ENV, "timeout_seconds": 5, "retries": 1,
                "batch_size": 10, "concurrency": 1}
    TargetRepository(roster.rt.store).save(Target(id="bulk", name="Bulk", connector="webhook", settings=settings))
    groups.create_group(roster.rt, GroupIn(id="fin", name="Finance", kind="dynamic", rule=FIN_RULE), "admin")
    TargetRepository(roster.rt.store).add_policy("bulk", Policy(group_id="fin"))
    roster.drain()
    roster.close()
    return path


def hires(roster: Roster) -> None:
    """Three hires through the chain; their orders wait, then go as one batch."""
    for source_id in HIRES:
        enqueue(roster.rt, update(source_id))
    roster.drain(skip=frozenset({"provisioning-order"}))
    roster.drain()


def send_again(roster: Roster) -> None:
    for source_id in HIRES:
        enqueue(roster.rt, update(source_id))


def bulk_orders(roster: Roster) -> list:
    rt = roster.rt
    ids = [PersonRepository(rt.store).owner_of("hr", s) for s in HIRES]
    return [o for p in ids if p for o in OrderRepository(rt.store).of_person(p) if o.target_id == "bulk"]


def test_without_a_crash_the_three_orders_go_in_one_post(base, hook, tmp_path):
    roster = Roster(copy_data(base, tmp_path / "clean"), TravelClock(START))
    hires(roster)

    assert hook.posts == [3]
    assert {o.state for o in bulk_orders(roster)} == {OrderState.executed}
    roster.close()


def test_the_batched_dispatch_recovers_from_a_crash_at_every_boundary(base, hook, tmp_path):
    plan = FaultPlan()
    counting = Roster(copy_data(base, tmp_path / "count"), TravelClock(START), plan)
    hires(counting)
    counting.close()
    seen = plan.seen
    assert any(s.startswith("complete provisioning-order") for s in seen)

    for n in range(1, len(seen) + 1):
        roster = Roster(copy_data(base, tmp_path / f"run-{n}"), TravelClock(START), FaultPlan(n))
        with pytest.raises(SimulatedCrash):
            hires(roster)
        roster = restart(roster)
        send_again(roster)
        roster.recover()
        try:
            assert_invariants(roster.rt, dict.fromkeys(HIRES, HIRED), hook)
            orders = bulk_orders(roster)
            assert len(orders) == 3 and {o.state for o in orders} == {OrderState.executed}, \
                [(o.id, o.state.value) for o in orders]
        except AssertionError as failure:
            raise AssertionError(f"crash before boundary {n} ({seen[n - 1]}): {failure}") from None
        finally:
            roster.close()
