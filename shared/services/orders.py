"""What staff and connectors do with orders: confirm, report an error, approve, retry,
carry out automatically — and what a person's access looks like (the "View Permissions")."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from shared.connectors import is_automatic, open_connector
from shared.errors import FieldError, InvalidInput, NotFound, PersonNotFound, RosterError
from shared.models.person import Person
from shared.models.provisioning import MANUAL, Action, Order, OrderEvent, OrderState, Target
from shared.runtime import Runtime
from shared.services import circuits, redelivery
from shared.services.eligibility import persons_with_email
from shared.services.provisioning import dispatch, transition
from shared.store.audit import audit_entity
from shared.store.orders import OrderRepository, new_order_id
from shared.store.persons import PersonRepository
from shared.store.targets import TargetRepository

log = logging.getLogger("roster.orders")
BULK_LIMIT = 500
ACCOUNT_WAIT = timedelta(seconds=30)  # a grant's wait, each time, for its account's order


def get_order(rt: Runtime, order_id: str) -> Order:
    found = OrderRepository(rt.store).get(order_id)
    if found is None:
        raise NotFound(f"no order {order_id!r}")
    return found[0]


def list_orders(rt: Runtime, target: str | None, state: str | None, person: str | None, limit: int = 500) -> list[Order]:
    repo = OrderRepository(rt.store)
    wanted = _state(state) if state else None
    if person:
        orders = repo.of_person(person)
        return [o for o in orders if (not target or o.target_id == target) and (not wanted or o.state == wanted)][:limit]
    targets = [target] if target else [t.id for t in TargetRepository(rt.store).all()]
    states = [wanted] if wanted else list(OrderState)
    found: list[Order] = []
    for target_id in targets:
        for s in states:
            for order_id in repo.queue(target_id, s, limit=limit - len(found)):
                order = repo.get(order_id)
                if order is not None and order[0].state == s:
                    found.append(order[0])
            if len(found) >= limit:
                return found
    return found


def confirm(rt: Runtime, order_id: str, actor: str, note: str = "") -> Order:
    return transition(rt, order_id, OrderState.executed, actor, note or "carried out by hand",
                      allowed={OrderState.transmitted})


def report_error(rt: Runtime, order_id: str, message: str, actor: str) -> Order:
    return transition(rt, order_id, OrderState.errored, actor, message,
                      allowed={OrderState.transmitted, OrderState.pending}, error=message)


def approve(rt: Runtime, order_id: str, actor: str) -> Order:
    order = transition(rt, order_id, OrderState.pending, actor, "approved", allowed={OrderState.awaiting_approval})
    dispatch(rt, [order])
    return get_order(rt, order_id)


def retry(rt: Runtime, order_id: str, actor: str) -> Order:
    order = get_order(rt, order_id)
    order = transition(rt, order_id, OrderState.pending, actor, "retry", allowed={OrderState.errored},
                       attempts=order.attempts + 1, failures=0, next_attempt_at=None, error=None)
    dispatch(rt, [order])
    return get_order(rt, order_id)


def bulk(rt: Runtime, action: str, ids: list[str], actor: str) -> list[dict]:
    """Each id on its own: valid ones proceed, the others say why not."""
    if action not in ("confirm", "approve"):
        raise InvalidInput("action must be confirm or approve", [FieldError("action", "confirm or approve")])
    if not ids or len(ids) > BULK_LIMIT:
        raise InvalidInput(f"give 1 to {BULK_LIMIT} ids", [FieldError("ids", f"1 to {BULK_LIMIT} order ids")])
    step = confirm if action == "confirm" else approve
    results = []
    for order_id in dict.fromkeys(ids):
        try:
            order = step(rt, order_id, actor)
            results.append({"id": order_id, "ok": True, "state": order.state.value})
        except RosterError as error:
            results.append({"id": order_id, "ok": False, "status": error.status, "detail": error.detail})
    return results


def execute(rt: Runtime, order_id: str) -> Order | None:
    """Make one attempt at a Pending order of an automatic connector (from the
    provisioning-order queue). Anything not Pending was handled already: redelivery changes
    nothing. A transient fault or a paused target schedules the next attempt and returns at
    once (shared/services/redelivery.py); the target's circuit counts every attempt."""
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
        return transition(rt, order_id, OrderState.errored, "roster", "the person is no longer registered",
                          allowed={OrderState.pending}, error="person not found")
    if not is_automatic(target.connector):
        note = f"no connector named {target.connector!r}"
        return transition(rt, order_id, OrderState.errored, "roster", note, allowed={OrderState.pending}, error=note)
    if _waits_for_account(rt, order):
        return redelivery.wait_for_account(rt, order, rt.clock.now() + ACCOUNT_WAIT)
    until = circuits.admit(rt, target)
    if until is not None:
        return redelivery.wait_for_target(rt, target, order, until)
    return _attempt(rt, target, order, person.person)


def _waits_for_account(rt: Runtime, order: Order) -> bool:
    """A grant whose account's order is still Pending (its target put it off) waits for it:
    the queue would otherwise deliver the grant first, before the account exists."""
    if order.action != Action.grant:
        return False
    repo = OrderRepository(rt.store)
    account = next((a for a in repo.assignments(order.person_id)
                    if a.target_id == order.target_id and a.entitlement == "account"), None)
    if account is None or account.order_id == order.id:
        return False
    found = repo.get(account.order_id)
    return (found is not None and found[0].state == OrderState.pending
            and found[0].action in (Action.create_account, Action.restore))


def _attempt(rt: Runtime, target: Target, order: Order, person: Person) -> Order:
    """Call the target once and record what came of it on the order and the circuit."""
    repo = OrderRepository(rt.store)
    assignment = next((a for a in repo.assignments(order.person_id)
                       if a.target_id == order.target_id and a.entitlement == "account"), None)
    connector = open_connector(target, clock=rt.clock)
    outcome = connector.execute(target, order, person, assignment.external_id if assignment else None)
    circuits.record(rt, target, outcome)
    if outcome.transient:
        return redelivery.retry_later(rt, target, order, outcome)
    changes = {"external_id": outcome.external_id} if outcome.external_id else {}
    if outcome.state == OrderState.errored:
        changes["error"] = outcome.note
    updated = transition(rt, order.id, outcome.state, f"connector:{target.connector}", outcome.note,
                         allowed={OrderState.pending}, next_attempt_at=None, **changes)
    if outcome.external_id and assignment is not None and assignment.external_id != outcome.external_id:
        repo.commit(order.person_id, [], [assignment.model_copy(update={"external_id": outcome.external_id})], [])
    return updated


def access(rt: Runtime, person_id: str) -> list[dict]:
    """Per target and entitlement: the assignment, its latest order and that order's state."""
    if PersonRepository(rt.store).get(person_id) is None:
        raise PersonNotFound(f"no person with id {person_id!r}")
    repo = OrderRepository(rt.store)
    orders = {o.id: o for o in repo.of_person(person_id)}
    items = []
    for a in sorted(repo.assignments(person_id), key=lambda a: (a.target_id, a.entitlement)):
        latest = orders.get(a.order_id)
        items.append({
            "target_id": a.target_id, "entitlement": a.entitlement, "status": a.status, "since": a.since,
            "order": None if latest is None else {
                "id": latest.id, "action": latest.action, "state": latest.state,
                "reason": latest.reason, "updated_at": latest.updated_at,
            },
        })
    return items


def order_states(rt: Runtime, ids: list[str]) -> dict[str, str]:
    repo = OrderRepository(rt.store)
    return {i: found[0].state.value for i in ids if (found := repo.get(i)) is not None}


def _state(value: str) -> OrderState:
    try:
        return OrderState(value)
    except ValueError:
        raise InvalidInput(f"unknown state {value!r}", [FieldError("state", ", ".join(s.value for s in OrderState))]) from None




REQUEST_ACTIONS = {"add": "create_account", "reset": "reset_credentials", "change": "update_account"}


def create_manual_orders(rt: Runtime, target_id: str, accounts: list, reason: str, actor: str) -> list[str]:
    """Orders for the accounts a request names (a request desk task), on the worklist of the
    target. Idempotent on `reason`: asking again returns the orders made the first time."""
    target = TargetRepository(rt.store).get(target_id)
    if target is None:
        raise NotFound(f"no target {target_id!r}")
    repo, now, created = OrderRepository(rt.store), rt.clock.now(), []
    for account in accounts:
        holders = persons_with_email(rt, account.email)
        person_id = holders[0].id if holders else "ext-" + hashlib.sha256(account.email.lower().encode()).hexdigest()[:24]
        existing = [o for o in repo.of_person(person_id) if o.reason == reason and o.target_id == target_id]
        if existing:
            created.extend(o.id for o in existing)
            continue
        action = Action(REQUEST_ACTIONS.get(account.action) or (
            "delete_account" if target.on_remove == "delete" else "disable_account"))
        order = Order(id=new_order_id(person_id), person_id=person_id, target_id=target_id, entitlement="account",
                      action=action, state=OrderState.pending, reason=reason, created_at=now, updated_at=now,
                      account=account.email,
                      history=[OrderEvent(state=OrderState.pending, at=now, by=actor, note=reason)])
        audit = audit_entity(f"person:{person_id}", now, actor, f"order.{action.value}", reason,
                             {"order_id": order.id, "target_id": target_id})
        repo.commit(person_id, [(order, None, None)], [], [audit])
        dispatch(rt, [order])
        created.append(order.id)
    return created
