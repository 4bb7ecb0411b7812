"""Automatic orders carried out: one attempt per order, many orders per batch of the
`provisioning-order` queue (docs/provisioning.md, "Dispatch"; docs/targets.md, "Connectors
at speed").

An order that is not Pending was handled already: a redelivery changes nothing. One that
must wait — not due yet, its grant's account still Pending, its target paused — is scheduled
again (shared/services/redelivery.py) without calling the target. The others are grouped by
target: a connector with a batch mode (`batch_size` > 1: `execute_many`) gets one call per
chunk, the circuit is asked once per chunk and counts the call; without one, each order is
one call, the circuit asked and counting each. Each order's outcome is then stored on its
own (idempotent transitions, one atomic write per order; on SQLite the chunk's writes share
one transaction, the store's unit of work): a failed order of a batch is retried by its own
scheduled redelivery.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from shared import telemetry
from shared.connectors import Outcome, is_automatic, open_connector
from shared.errors import RosterError
from shared.models.person import Person
from shared.models.provisioning import MANUAL, Action, Move, Order, OrderState, Target
from shared.runtime import Runtime
from shared.services import circuits, redelivery
from shared.services.provisioning import ACCOUNT, transition
from shared.store.orders import OrderRepository
from shared.store.persons import PersonRepository
from shared.store.targets import TargetRepository

ACCOUNT_WAIT = timedelta(seconds=30)  # a grant's wait, each time, for its account's order
Result = Order | None | RosterError  # as the order is now; None: nothing to do; a refusal (4xx)


@dataclass(frozen=True)
class Ready:
    """An order that may call its target now."""

    target: Target
    order: Order
    person: Person

    def external_id(self, rt: Runtime) -> str | None:
        """The account id the target gave earlier for this person, if any."""
        account = next((a for a in OrderRepository(rt.store).assignments(self.order.person_id)
                        if a.target_id == self.order.target_id and a.entitlement == ACCOUNT), None)
        return account.external_id if account else None


def execute(rt: Runtime, order_id: str) -> Order | None:
    """Make one attempt at a Pending order of an automatic connector. A transient fault or
    a paused target schedules the next attempt and returns at once; the target's circuit
    counts every attempt. RosterError (a 4xx) propagates."""
    result = execute_many(rt, [order_id])[order_id]
    if isinstance(result, RosterError):
        raise result
    return result


def execute_many(rt: Runtime, order_ids: Iterable[str]) -> dict[str, Result]:
    """One attempt at each order of a batch; order id → its result. A grant whose account's
    order is in the same batch goes after that order's attempt, in a second round."""
    ids = list(dict.fromkeys(order_ids))
    results: dict[str, Result] = {}
    later = _round(rt, ids, results, defer_grants=True)
    if later:
        _round(rt, later, results, defer_grants=False)
    return results


def _round(rt: Runtime, ids: list[str], results: dict[str, Result], defer_grants: bool) -> list[str]:
    """Prepare and carry out `ids`; returns the grants put off to the next round."""
    ready: dict[str, list[Ready]] = {}
    later = []
    batch = set(ids) if defer_grants else set()
    for order_id in ids:
        try:
            step = _prepared(rt, order_id, batch)
        except RosterError as refused:
            if refused.status >= 500:
                raise
            results[order_id] = refused
            continue
        if step == "later":
            later.append(order_id)
        elif isinstance(step, Ready):
            ready.setdefault(step.target.id, []).append(step)
        else:
            results[order_id] = step
    for items in ready.values():
        results.update(_carried_out(rt, items))
    return later


def _prepared(rt: Runtime, order_id: str, batch: set[str]) -> Ready | Order | None | str:
    """What becomes of one order before any call: Ready, or handled already (the order as
    it is now, or None), or "later" (a grant whose account's order is in `batch`)."""
    found = OrderRepository(rt.store).get(order_id)
    if found is None or found[0].state != OrderState.pending:
        return None
    order = found[0]
    target = TargetRepository(rt.store).get(order.target_id)
    if target is None or target.connector == MANUAL:
        return None
    if redelivery.too_early(order, rt.clock.now()):
        redelivery.reschedule(rt, order)
        return order
    person = PersonRepository(rt.store).get(order.person_id)
    if person is None:
        return transition(rt, order_id, Move.fail, OrderState.errored, "roster",
                          "the person is no longer registered", error="person not found")
    if not is_automatic(target.connector):
        note = f"no connector named {target.connector!r}"
        return transition(rt, order_id, Move.fail, OrderState.errored, "roster", note, error=note)
    account_order = _account_order_pending(rt, order)
    if account_order is not None:
        if account_order in batch:
            return "later"
        return redelivery.wait_for_account(rt, order, rt.clock.now() + ACCOUNT_WAIT)
    return Ready(target, order, person.person)


def _account_order_pending(rt: Runtime, order: Order) -> str | None:
    """A grant whose account's order is still Pending (its target put it off) waits for it:
    the queue would otherwise deliver the grant first, before the account exists. The id
    of that account order, or None."""
    if order.action != Action.grant:
        return None
    repo = OrderRepository(rt.store)
    account = next((a for a in repo.assignments(order.person_id)
                    if a.target_id == order.target_id and a.entitlement == ACCOUNT), None)
    if account is None or account.order_id == order.id:
        return None
    found = repo.get(account.order_id)
    waiting = (found is not None and found[0].state == OrderState.pending
               and found[0].action in (Action.create_account, Action.restore))
    return account.order_id if waiting else None


def _carried_out(rt: Runtime, items: list[Ready]) -> dict[str, Order]:
    """The orders of one target: in chunks of its batch size, or one by one."""
    target = items[0].target
    connector = open_connector(target, clock=rt.clock)
    size = connector.batch_size(target) if hasattr(connector, "batch_size") else 1
    results: dict[str, Order] = {}
    for start in range(0, len(items), size):
        chunk = items[start:start + size]
        until = circuits.admit(rt, target)
        if until is not None:
            results.update({i.order.id: redelivery.wait_for_target(rt, target, i.order, until) for i in chunk})
            continue
        outcomes = _called(rt, connector, target, chunk, batched=size > 1)
        with rt.store.unit_of_work():  # on SQLite one transaction for the chunk's writes
            circuits.record(rt, target, _call_outcome(outcomes))
            results.update({i.order.id: _recorded(rt, target, i.order, o)
                            for i, o in zip(chunk, outcomes, strict=True)})
    return results


def _called(rt: Runtime, connector, target: Target, chunk: list[Ready], batched: bool) -> list[Outcome]:
    """One call of the connector for the chunk (its batch mode when `batched`, even for one
    order: a batch target's receiver always gets batches), in a connector span
    (shared/telemetry.py; a single order's ids on it)."""
    with telemetry.connector_call(target.id, target.connector) as call:
        if not batched:
            [item] = chunk
            call.set(order_id=item.order.id, person_id=item.order.person_id)
            outcomes = [connector.execute(target, item.order, item.person, item.external_id(rt))]
        else:
            outcomes = connector.execute_many(target, [(i.order, i.person, i.external_id(rt)) for i in chunk])
        called = _call_outcome(outcomes)
        call.outcome = "transient" if called.transient else called.state.value.lower()
    return outcomes


def _call_outcome(outcomes: list[Outcome]) -> Outcome:
    """What the circuit counts for one call: a fault when every order of it was transient
    (the target did not answer), else the answer."""
    return next((o for o in outcomes if not o.transient), outcomes[0])


def _recorded(rt: Runtime, target: Target, order: Order, outcome: Outcome) -> Order:
    """Store what one attempt came to: the next attempt scheduled, or the order carried out."""
    if outcome.transient:
        return redelivery.retry_later(rt, target, order, outcome)
    changes = {"external_id": outcome.external_id} if outcome.external_id else {}
    if outcome.state == OrderState.errored:
        changes["error"] = outcome.note
    return transition(rt, order.id, Move.carry_out, outcome.state, f"connector:{target.connector}",
                      outcome.note, next_attempt_at=None, **changes)
