"""Deterministic crash points: the process dies before each store write, publish and message
settlement of the person chain (registration → groups → provisioning → connector) and of
order dispatch (approval → queue or worklist → connector) in turn; a fresh process on the
same SQLite files recovers (relay, drain, sweep) and every invariant holds
(docs/architecture.md §10, docs/recovery.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.clock import TravelClock
from shared.faults import FaultPlan, SimulatedCrash
from shared.models.group import GroupIn
from shared.models.person import PersonUpdate
from shared.models.provisioning import OrderState, Policy, Target
from shared.services import groups, orders
from shared.services.chain import enqueue
from shared.services.sweep import sweep
from shared.store.orders import OrderRepository
from shared.store.persons import PersonRepository
from shared.store.targets import TargetRepository
from tests.chain.harness import (
    RESTART_AFTER,
    SECRET,
    SECRET_ENV,
    Roster,
    assert_invariants,
    copy_data,
    receiver,
    restart,
)
from tests.factories import hr_update

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FIN_RULE = 'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -eq "FIN")'
HIRED = "2026-11-01T08:00:00+00:00"
LEFT = "2026-11-02T08:00:00+00:00"


def update(source_id: str, as_of: str = HIRED, organization: str = "FIN", ended: bool = False) -> PersonUpdate:
    body = hr_update(source_id=source_id, as_of=as_of)
    body["affiliations"][0]["organization"] = organization
    if ended:
        body["affiliations"][0]["end"] = "2026-11-01"
    return PersonUpdate.model_validate(body)


PERSON_CHAIN = [
    [update("A"), update("C", organization="ENG")],  # A joins; C is never a member
    [update("A", LEFT, ended=True)],  # A leaves
]
LATEST_PERSON_CHAIN = {"A": LEFT, "C": HIRED}


def template(path: Path, hook_url: str) -> Path:
    """Targets (manual, webhook, and one of each behind approval), a dynamic group with
    policies on all four, and D, hired already, whose orders wait for approval."""
    roster = Roster(path, TravelClock(START))
    rt = roster.rt
    targets = TargetRepository(rt.store)
    hook = {"url": hook_url, "secret_env": SECRET_ENV, "timeout_seconds": 5, "retries": 1}
    for target in (Target(id="wiki", name="Wiki"), Target(id="hook", name="Hook", connector="webhook", settings=hook),
                   Target(id="gate", name="Gate", approval="always"),
                   Target(id="vault", name="Vault", connector="webhook", settings=hook, approval="always")):
        targets.save(target)
    groups.create_group(rt, GroupIn(id="fin", name="Finance", kind="dynamic", rule=FIN_RULE), "admin")
    for target_id in ("wiki", "hook", "gate", "vault"):
        targets.add_policy(target_id, Policy(group_id="fin"))
    roster.drain()
    enqueue(rt, update("D"))
    roster.drain()
    roster.close()
    return path


def person_chain(roster: Roster, drain: bool = True) -> None:
    """HR's updates, queued (async), the chain run after each burst."""
    for updates in PERSON_CHAIN:
        for u in updates:
            enqueue(roster.rt, u)
        if drain:
            roster.drain()


def resend_updates(roster: Roster) -> None:
    """HR sends again what it got no acknowledgement for (the same update: the same id)."""
    person_chain(roster, drain=False)


def order_dispatch(roster: Roster) -> None:
    """Staff approve D's waiting orders (one manual, one automatic), then the chain runs."""
    for order_id in _awaiting(roster):
        orders.approve(roster.rt, order_id, "staff")
        roster.drain()


def _awaiting(roster: Roster) -> list[str]:
    rt = roster.rt
    person_id = PersonRepository(rt.store).owner_of("hr", "D")
    return [o.id for o in OrderRepository(rt.store).of_person(person_id) if o.state == OrderState.awaiting_approval]


def automatic_orders_carried_out(roster: Roster) -> None:
    """Every order of the webhook targets reached the receiver and was Executed."""
    rt = roster.rt
    for source_id in ("A", "D"):
        person_id = PersonRepository(rt.store).owner_of("hr", source_id)
        for order in OrderRepository(rt.store).of_person(person_id):
            if order.target_id in ("hook", "vault") and order.state not in (OrderState.inactive, OrderState.awaiting_approval):
                assert order.state == OrderState.executed, f"{source_id}: {order.action.value} is {order.state.value}"


def boundaries(base: Path, scenario) -> list[str]:
    """Every write/publish/settlement boundary the scenario crosses, in order."""
    plan = FaultPlan()
    roster = Roster(copy_data(base, base.parent / "count"), TravelClock(START), plan)
    scenario(roster)
    roster.close()
    return plan.seen


def crash_and_recover(base: Path, run: Path, crash_at: int, scenario, retry) -> Roster:
    roster = Roster(copy_data(base, run), TravelClock(START), FaultPlan(crash_at))
    with pytest.raises(SimulatedCrash):
        scenario(roster)
    roster = restart(roster)
    retry(roster)
    roster.recover()
    return roster


@pytest.fixture
def hook(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv("ROSTER_ALLOW_LOOPBACK", "true")  # the receiver listens on 127.0.0.1
    with receiver() as r:
        yield r


@pytest.fixture
def base(tmp_path, hook) -> Path:
    return template(tmp_path / "template", hook.url)


def every_crash_point(base: Path, tmp_path: Path, seen: list[str], scenario, retry, check) -> None:
    """Crash before each of the scenario's boundaries in turn, recover, `check(roster)`."""
    for n in range(1, len(seen) + 1):
        roster = crash_and_recover(base, tmp_path / f"run-{n}", n, scenario, retry)
        try:
            check(roster)
        except AssertionError as failure:
            raise AssertionError(f"crash before boundary {n} ({seen[n - 1]}): {failure}") from None
        finally:
            roster.close()


def test_the_person_chain_recovers_from_a_crash_at_every_boundary(base, hook, tmp_path):
    seen = boundaries(base, person_chain)
    assert len(seen) > 40 and {s.split()[0] for s in seen} >= {"publish", "batch", "complete", "upsert", "delete"}

    def check(roster: Roster) -> None:
        assert_invariants(roster.rt, {**LATEST_PERSON_CHAIN, "D": HIRED}, hook, outsiders={"C"})
        automatic_orders_carried_out(roster)

    every_crash_point(base, tmp_path, seen, person_chain, resend_updates, check)


def test_order_dispatch_recovers_from_a_crash_at_every_boundary(base, hook, tmp_path):
    seen = boundaries(base, order_dispatch)
    assert any(s.startswith("publish provisioning-order") for s in seen)

    def approve_again(roster: Roster) -> None:  # the staff member's click failed: they click again
        for order_id in _awaiting(roster):
            orders.approve(roster.rt, order_id, "staff")

    def check(roster: Roster) -> None:
        assert_invariants(roster.rt, {"D": HIRED}, hook)
        assert not _awaiting(roster)
        automatic_orders_carried_out(roster)

    every_crash_point(base, tmp_path, seen, order_dispatch, approve_again, check)


def test_without_a_crash_the_chain_needs_no_repair(base, hook, tmp_path):
    """The sweep finds nothing to heal after an uninterrupted run: repairs mean real faults."""
    roster = Roster(copy_data(base, tmp_path / "clean"), TravelClock(START))
    person_chain(roster)
    order_dispatch(roster)
    roster.clock.advance(RESTART_AFTER)  # whatever is Pending now would count as stuck
    figures = sweep(roster.rt, limit=1000)
    assert figures["persons_checked"] == 3 and figures["repairs"] == {}
    assert_invariants(roster.rt, {**LATEST_PERSON_CHAIN, "D": HIRED}, hook, outsiders={"C"})
    automatic_orders_carried_out(roster)
    roster.close()
