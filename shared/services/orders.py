"""What staff do with orders: confirm, report an error, approve, retry — and what a
person's access looks like (the "View Permissions"). Connectors carry orders out in
shared/services/delivery.py."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import UTC

from shared.errors import Conflict, FieldError, InvalidInput, NotFound, PersonNotFound, RosterError
from shared.models.account_template import suggest, values_of
from shared.models.provisioning import (
    STATE_WORDS,
    Action,
    Assignment,
    Move,
    Order,
    OrderState,
)
from shared.runtime import Runtime
from shared.services.eligibility import persons_with_email
from shared.services.paging import Page
from shared.services.provisioning import ACCOUNT, dispatch, release, transition
from shared.store.audit import audit_entity
from shared.store.orders import OrderRepository, new_order_id
from shared.store.persons import PersonRepository
from shared.store.targets import TargetRepository

log = logging.getLogger("roster.orders")
BULK_LIMIT = 500


def get_order(rt: Runtime, order_id: str) -> Order:
    found = OrderRepository(rt.store).get(order_id)
    if found is None:
        raise NotFound(f"no order {order_id!r}")
    return found[0]


def list_orders(rt: Runtime, target: str | None, state: str | None, person: str | None, limit: int = 500) -> list[Order]:
    """The first `limit` orders of `order_page` (in-process callers that want one page)."""
    return order_page(rt, Page("orders", {}, limit), target, state, person)[0]


def order_page(rt: Runtime, page: Page, target: str | None, state: str | None,
               person: str | None) -> tuple[list[Order], str | None]:
    """One page of `GET /orders`. Without `person` the targets' queues are read page by page
    (targets by id, states in lifecycle order, each queue oldest first; the cursor is
    `[target, state, row]`); with `person` that person's one partition is read and sliced in
    the order (created, id)."""
    repo = OrderRepository(rt.store)
    wanted = _state(state) if state else None
    if person:
        return page.take(_of_person(repo, person, target, wanted, page.cursor))
    targets = [target] if target else sorted(t.id for t in TargetRepository(rt.store).all())
    pairs = [(t, s) for t in targets for s in ([wanted] if wanted else list(OrderState))]
    return page.take(_queued_from(repo, pairs, page.cursor, page.limit + 1))


def _of_person(repo: OrderRepository, person: str, target: str | None, wanted: OrderState | None,
               cursor: str | None) -> Iterator[tuple[str, Order]]:
    for order in repo.of_person(person):
        key = f"{order.created_at.astimezone(UTC).isoformat()}|{order.id}"
        if (not target or order.target_id == target) and (not wanted or order.state == wanted) and key >= (cursor or ""):
            yield key, order


def _queued_from(repo: OrderRepository, pairs: list[tuple[str, OrderState]], cursor: list | None,
                 chunk: int) -> Iterator[tuple[list, Order]]:
    """Orders still in their queue, for each (target, state) from the cursor's on."""
    order_of = {s: i for i, s in enumerate(OrderState)}
    at = (cursor[0], order_of.get(_state(cursor[1]), 0)) if cursor else None
    for target_id, s in pairs:
        here = (target_id, order_of[s])
        if at and here < at:
            continue
        start = cursor[2] if at and here == at else None
        for row, order_id in repo.queue_from(target_id, s, start, chunk):
            found = repo.get(order_id)
            if found is not None and found[0].state == s:
                yield [target_id, s.value, row], found[0]


def confirm(rt: Runtime, order_id: str, actor: str, note: str = "", account_id: str | None = None) -> Order:
    """Staff carried the order out by hand. The account id they created (or found) and their
    note are kept on the assignment, in the same batch: later orders name that account and
    reconciliation recognises it."""
    order = get_order(rt, order_id)
    if account_id:
        holder = OrderRepository(rt.store).accounts(order.target_id).get(account_id)
        if holder is not None and holder != order.person_id:
            raise Conflict(f"the account {account_id!r} is already recorded for someone else in {order.target_id}",
                           [FieldError("account_id", "already held by another person in this target")])
    recorded = {"external_id": account_id} if account_id else {}
    return transition(rt, order_id, Move.confirm, OrderState.executed, actor, note or "carried out by hand",
                      held=lambda o: _recorded(rt, o, account_id, note),
                      **recorded)


def _recorded(rt: Runtime, order: Order, account_id: str | None, note: str) -> list[Assignment]:
    """The order's assignment with the note, and the target's account assignment with the id."""
    mine = {a.entitlement: a for a in OrderRepository(rt.store).assignments(order.person_id)
            if a.target_id == order.target_id}
    changed: dict[str, Assignment] = {}
    if note and order.entitlement in mine:
        changed[order.entitlement] = mine[order.entitlement].model_copy(update={"note": note})
    if account_id and ACCOUNT in mine:
        changed[ACCOUNT] = changed.get(ACCOUNT, mine[ACCOUNT]).model_copy(update={"external_id": account_id})
    return list(changed.values())


def hints(rt: Runtime, orders: list[Order]) -> dict[str, dict]:
    """What to type in the target for each order: the account it concerns (as recorded) and,
    for a new account, the login and attributes of the target's template — free of the
    logins the target holds and of those suggested above it on the same list."""
    targets = {t.id: t for t in TargetRepository(rt.store).all()}
    persons = {p.id: p for p in PersonRepository(rt.store).get_many(
        sorted({o.person_id for o in orders if not o.person_id.startswith("ext-")}))}
    repo, taken, found, held_by = OrderRepository(rt.store), {}, {}, {}
    for order in orders:
        target = targets.get(order.target_id)
        if target is None:
            continue
        if order.target_id not in taken:
            taken[order.target_id] = set(repo.accounts(order.target_id))
        if order.person_id not in held_by:
            held_by[order.person_id] = {a.target_id: a for a in repo.assignments(order.person_id)
                                        if a.entitlement == ACCOUNT}
        held = held_by[order.person_id].get(order.target_id)
        hint = {"account": held.external_id if held else None, "login": None, "attributes": {}}
        if order.action == Action.create_account and not hint["account"]:
            person = persons.get(order.person_id)
            values = values_of(person) if person else _values_of_address(order)
            suggestion = suggest(target.template, values, taken[order.target_id])
            taken[order.target_id].add(suggestion.login)
            hint.update(login=suggestion.login, attributes=suggestion.attributes)
        found[order.id] = hint
    return found


def _values_of_address(order: Order) -> dict[str, str]:
    """Placeholder values for an account a request named (no registered person)."""
    email = order.account or ""
    local = email.split("@", 1)[0]
    given, _, family = local.partition(".")
    return {"given": given, "family": family, "preferred": given, "display": local, "email": email,
            "email_local": local, "id": order.person_id}
def report_error(rt: Runtime, order_id: str, message: str, actor: str) -> Order:
    return transition(rt, order_id, Move.fail, OrderState.errored, actor, message, error=message)


def approve(rt: Runtime, order_id: str, actor: str, send: bool = True) -> Order:
    """Approve a held order; it goes where it waits in the same write (`send=False`: it stays
    Pending and the caller dispatches a batch)."""
    if not send:
        return transition(rt, order_id, Move.approve, OrderState.pending, actor, "approved")
    return release(rt, order_id, Move.approve, actor, "approved")


def retry(rt: Runtime, order_id: str, actor: str) -> Order:
    """Send an errored order again: a new attempt, in one write."""
    return release(rt, order_id, Move.retry, actor, "retry")


def bulk(rt: Runtime, action: str, ids: list[str], actor: str) -> list[dict]:
    """Each id on its own: valid ones proceed, the others say why not."""
    if action not in ("confirm", "approve"):
        raise InvalidInput("action must be confirm or approve", [FieldError("action", "confirm or approve")])
    if not ids or len(ids) > BULK_LIMIT:
        raise InvalidInput(f"give 1 to {BULK_LIMIT} ids", [FieldError("ids", f"1 to {BULK_LIMIT} order ids")])
    step = confirm if action == "confirm" else (lambda r, i, a: approve(r, i, a, send=False))
    results, approved = [], []
    for order_id in dict.fromkeys(ids):
        try:
            order = step(rt, order_id, actor)
            results.append({"id": order_id, "ok": True, "state": order.state.value})
            approved += [order] if action == "approve" else []
        except RosterError as error:
            results.append({"id": order_id, "ok": False, "status": error.status, "detail": error.detail})
    if approved:  # one batch: the desk gets one digest per target
        states = {o.id: o.state.value for o in dispatch(rt, approved)}
        results = [{**r, "state": states.get(r["id"], r.get("state"))} if r["ok"] else r for r in results]
    return results


def access(rt: Runtime, person_id: str) -> list[dict]:
    """Per target and entitlement: the assignment, its true state (an errored create is not
    `active`), the account id and note staff recorded, its latest order and that order's state."""
    if PersonRepository(rt.store).get(person_id) is None:
        raise PersonNotFound(f"no person with id {person_id!r}")
    repo = OrderRepository(rt.store)
    orders = {o.id: o for o in repo.of_person(person_id)}
    items = []
    for a in sorted(repo.assignments(person_id), key=lambda a: (a.target_id, a.entitlement)):
        latest = orders.get(a.order_id)
        state = a.state(latest)
        items.append({
            "target_id": a.target_id, "entitlement": a.entitlement, "status": a.status, "since": a.since,
            "state": state, "state_words": STATE_WORDS[state], "account_id": a.external_id, "note": a.note,
            "order": None if latest is None else {
                "id": latest.id, "action": latest.action, "state": latest.state,
                "reason": latest.reason, "updated_at": latest.updated_at,
            },
        })
    return items


def order_states(rt: Runtime, ids: list[str]) -> dict[str, str]:
    return {o.id: o.state.value for o in orders_of(rt, ids)}


def orders_of(rt: Runtime, ids: list[str]) -> list[Order]:
    """The orders of these ids that exist, in the same order."""
    repo = OrderRepository(rt.store)
    return [found[0] for i in ids if (found := repo.get(i)) is not None]


def _state(value: str) -> OrderState:
    try:
        return OrderState(value)
    except ValueError:
        raise InvalidInput(f"unknown state {value!r}", [FieldError("state", ", ".join(s.value for s in OrderState))]) from None




def create_manual_orders(rt: Runtime, target_id: str, accounts: list, reason: str, actor: str,
                         about: str | None = None) -> list[str]:
    """Orders for the accounts a request names (a request desk task), on the worklist of the
    target, announced in one digest (`about`: the request number). Idempotent on `reason`:
    asking again returns the orders made the first time."""
    target = TargetRepository(rt.store).get(target_id)
    if target is None:
        raise NotFound(f"no target {target_id!r}")
    repo, now, created, new = OrderRepository(rt.store), rt.clock.now(), [], []
    for account in accounts:
        holders = persons_with_email(rt, account.email)
        person_id = holders[0].id if holders else "ext-" + hashlib.sha256(account.email.lower().encode()).hexdigest()[:24]
        existing = [o for o in repo.of_person(person_id) if o.reason == reason and o.target_id == target_id]
        if existing:
            created.extend(o.id for o in existing)
            new.extend(o for o in existing if o.state == OrderState.pending)
            continue
        action = Action.for_request(account.action, target.on_remove)
        order = Order.new(id=new_order_id(person_id), person_id=person_id, target_id=target_id,
                          entitlement="account", action=action, reason=reason, at=now, by=actor,
                          account=account.email)
        audit = audit_entity(f"person:{person_id}", now, actor, f"order.{action.value}", reason,
                             {"order_id": order.id, "target_id": target_id})
        repo.commit(person_id, [(order, None, None)], [], [audit])
        new.append(order)
        created.append(order.id)
    dispatch(rt, new, about)  # a retry sends what an interrupted call left Pending
    return created
