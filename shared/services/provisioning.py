"""Provisioning for one person: memberships × policies → desired entitlements, diffed
against assignments → orders that say why they exist (docs/architecture.md §5, Provisioning).

Assignments record what Roster has ordered. A new order supersedes an open opposite one
(grant, then revoke before anybody carried it out: the grant becomes Inactive). While the
person is in a `suspend` group every account is suspended first and nothing is granted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.bus import bus_id
from shared.errors import Busy, Conflict, NotFound, PersonNotFound
from shared.models.messages import Email, OrderRef, PersonRef
from shared.models.provisioning import (
    MANUAL,
    OPEN_STATES,
    REMOVALS,
    Action,
    Assignment,
    Order,
    OrderEvent,
    OrderState,
    Target,
)
from shared.runtime import Runtime
from shared.services.contention import retrying
from shared.services.rulebook import rulebook
from shared.store.audit import audit_entity
from shared.store.groups import MembershipRepository
from shared.store.orders import OrderRepository, new_order_id
from shared.store.persons import PersonRepository
from shared.store.port import ETagMismatch
from shared.store.targets import TargetRepository

ACCOUNT = "account"
ATTEMPTS = 8  # transitions of one order
GRANTS = {Action.create_account, Action.grant}


@dataclass
class Plan:
    """One evaluation's writes."""

    orders: list[tuple[Order, str | None, OrderState | None]] = field(default_factory=list)
    assignments: dict[tuple[str, str], Assignment] = field(default_factory=dict)

    def new_orders(self) -> list[Order]:
        return [order for order, etag, _ in self.orders if etag is None]


def evaluate_provisioning(rt: Runtime, person_id: str, cause: str, actor: str = "roster") -> list[Order]:
    """Issue the orders that bring the person's access in line; returns the new ones."""
    if PersonRepository(rt.store).get(person_id) is None:
        raise PersonNotFound(f"no person with id {person_id!r}")
    plan = retrying(lambda: _plan(rt, person_id, cause, actor),
                    "the person's access is being evaluated by others; retry")
    return dispatch(rt, plan.new_orders())


def dispatch(rt: Runtime, orders: list[Order]) -> list[Order]:
    """Pending orders go to their connector: the worklist (manual) or the queue (automatic).
    Returns the orders as they are now."""
    targets = {t.id: t for t in TargetRepository(rt.store).all()}
    manual: dict[str, int] = {}
    result = []
    for order in orders:
        target = targets[order.target_id]
        if order.state != OrderState.pending:
            result.append(order)
        elif target.connector == MANUAL:
            result.append(transition(rt, order.id, OrderState.transmitted, "roster", "on the staff worklist"))
            manual[target.id] = manual.get(target.id, 0) + 1
        else:
            result.append(order)
            rt.bus.publish(rt.settings.queue("provisioning-order"), OrderRef(order_id=order.id).model_dump_json(),
                           message_id=bus_id(f"order:{order.id}:{order.attempts}"), session_id=order.person_id)
    for target_id, count in manual.items():
        _notify_staff(rt, targets[target_id], count)
    return result


def transition(
    rt: Runtime, order_id: str, state: OrderState, by: str, note: str = "",
    allowed: set[OrderState] | None = None, **changes,
) -> Order:
    """Move one order to `state` (only from `allowed` states), recorded in its history."""
    repo = OrderRepository(rt.store)
    for _ in range(ATTEMPTS):
        found = repo.get(order_id)
        if found is None:
            raise NotFound(f"no order {order_id!r}")
        order, etag = found
        if allowed is not None and order.state not in allowed:
            wanted = " or ".join(sorted(s.value for s in allowed))
            raise Conflict(f"order {order_id} is {order.state.value}, not {wanted}", current_state=order.state.value)
        now = rt.clock.now()
        updated = order.model_copy(update={
            "state": state, "updated_at": now,
            "history": [*order.history, OrderEvent(state=state, at=now, by=by, note=note)], **changes,
        })
        audit = audit_entity(f"person:{order.person_id}", now, by, f"order.{state.value}", note or state.value,
                             {"order_id": order_id, "from": order.state.value}, len(updated.history))
        try:
            repo.commit(order.person_id, [(updated, etag, order.state)], [], [audit])
            return updated
        except ETagMismatch:
            continue
    raise Busy(f"order {order_id} is being changed by others; retry")


def announce_members(rt: Runtime, group_id: str, cause: str) -> int:
    """A policy changed: the group's members are re-provisioned through `group-update`."""
    count = 0
    for person_id in MembershipRepository(rt.store).mirrored_person_ids(group_id):
        rt.bus.publish(rt.settings.queue("group-update"), PersonRef(person_id=person_id, cause=cause).model_dump_json(),
                       message_id=bus_id(f"policy:{group_id}:{person_id}:{rt.clock.now().isoformat()}"), session_id=person_id)
        count += 1
    return count


def suspended_by(rt: Runtime, person_id: str) -> str | None:
    """The suspend group the person is in now, if any."""
    groups = rulebook(rt.store, rt.clock).groups
    for group_id in MembershipRepository(rt.store).state(person_id).groups:
        if group_id in groups and groups[group_id].policy == "suspend":
            return group_id
    return None


def _plan(rt: Runtime, person_id: str, cause: str, actor: str) -> Plan:
    now = rt.clock.now()
    repo = OrderRepository(rt.store)
    targets = {t.id: t for t in TargetRepository(rt.store).all()}
    desired = _desired(rt, person_id, targets)
    suspension = suspended_by(rt, person_id)
    marker = repo.evaluation_etag(person_id)
    assignments = {(a.target_id, a.entitlement): a for a in repo.assignments(person_id)}
    read = repo.of_person_with_etags(person_id)
    orders = {o.id: o for o, _ in read}
    etags = {o.id: etag for o, etag in read}
    plan = Plan()
    removals: dict[str, int] = {}

    def order(target: Target, entitlement: str, action: Action, reason: str) -> Order:
        o = Order(id=new_order_id(person_id), person_id=person_id, target_id=target.id, entitlement=entitlement,
                  action=action, state=OrderState.pending, reason=reason, created_at=now, updated_at=now,
                  history=[OrderEvent(state=OrderState.pending, at=now, by=actor, note=reason)])
        plan.orders.append((o, None, None))
        return o

    def assign(key, status, order_id, external_id=None) -> None:
        old = assignments.get(key)
        plan.assignments[key] = Assignment(
            person_id=person_id, target_id=key[0], entitlement=key[1], status=status, order_id=order_id,
            since=now if not old or old.status != status else old.since,
            external_id=external_id or (old.external_id if old else None),
        )

    def supersede(order_id: str | None, why: str) -> bool:
        """Make an open order Inactive; True if there was one to cancel."""
        o = orders.get(order_id or "")
        if o is None or o.state not in OPEN_STATES:
            return False
        inactive = o.model_copy(update={"state": OrderState.inactive, "updated_at": now, "history": [
            *o.history, OrderEvent(state=OrderState.inactive, at=now, by=actor, note=why)]})
        plan.orders.append((inactive, etags[o.id], o.state))
        return True

    # Suspension first: every account, before anything else.
    for key, a in sorted(assignments.items()):
        target = targets.get(key[0])
        if target is None or key[1] != ACCOUNT:
            continue
        if suspension and a.status == "active":
            o = order(target, ACCOUNT, Action.suspend, f"member of {suspension}: {cause}")
            assign(key, "suspended", o.id)
        elif not suspension and a.status == "suspended" and key in desired:
            if not supersede(a.order_id, "suspension lifted before it was carried out"):
                o = order(target, ACCOUNT, Action.restore, f"suspension lifted: {cause}")
                assign(key, "active", o.id)
            else:
                assign(key, "active", a.order_id)

    # Accounts before what is granted in them: one person's orders run in this order.
    for key in sorted(set(desired) | set(assignments), key=lambda k: (k[0], k[1] != ACCOUNT, k[1])):
        target = targets.get(key[0])
        if target is None:
            continue
        a = assignments.get(key)
        held = a is not None and a.status != "removed"
        latest = orders.get(a.order_id) if a else None
        if key in desired and not held:
            if suspension:
                continue
            if latest and latest.action in REMOVALS and supersede(latest.id, "wanted again before removal was carried out"):
                assign(key, "active", _granting_order(orders, key) or latest.id)
                continue
            action = Action.create_account if key[1] == ACCOUNT else Action.grant
            o = order(target, key[1], action, f"member of {desired[key]}: {cause}")
            assign(key, "active", o.id)
        elif key not in desired and held:
            if latest and latest.action in GRANTS and supersede(latest.id, f"no longer wanted: {cause}"):
                assign(key, "removed", latest.id)
                continue
            action = Action.revoke if key[1] != ACCOUNT else (
                Action.delete_account if target.on_remove == "delete" else Action.disable_account)
            o = order(target, key[1], action, f"no longer granted by any group: {cause}")
            assign(key, "removed", o.id)
            removals[target.id] = removals.get(target.id, 0) + 1
    _guard(rt, targets, plan, removals, now)
    audits = [
        audit_entity(f"person:{person_id}", now, actor, f"order.{o.action.value}", o.reason,
                     {"order_id": o.id, "target_id": o.target_id, "entitlement": o.entitlement, "state": o.state.value}, n)
        for n, o in enumerate(plan.new_orders())
    ]
    if plan.orders or plan.assignments:
        repo.commit(person_id, plan.orders, list(plan.assignments.values()), audits, (now, marker))
    return plan


def _desired(rt: Runtime, person_id: str, targets: dict[str, Target]) -> dict[tuple[str, str], str]:
    """(target, entitlement) → the group that grants it; an entitlement implies the account."""
    groups = set(MembershipRepository(rt.store).state(person_id).groups)
    repo = TargetRepository(rt.store)
    desired: dict[tuple[str, str], str] = {}
    for target_id in targets:
        for policy in repo.policies(target_id):
            if policy.group_id in groups:
                desired.setdefault((target_id, policy.entitlement), policy.group_id)
                desired.setdefault((target_id, ACCOUNT), policy.group_id)
    return desired


def _granting_order(orders: dict[str, Order], key: tuple[str, str]) -> str | None:
    granting = [o for o in orders.values() if (o.target_id, o.entitlement) == key and o.action in GRANTS]
    return max(granting, key=lambda o: o.created_at).id if granting else None


def _guard(rt: Runtime, targets: dict[str, Target], plan: Plan, removals: dict[str, int], now: datetime) -> None:
    """Approval: `always`, or `threshold` once an hour's removals exceed the target's limit."""
    repo = OrderRepository(rt.store)
    over_limit: dict[str, bool] = {}
    for target_id, count in removals.items():
        target = targets[target_id]
        if target.approval == "threshold":
            assigned = sum(1 for _ in repo.assigned(target_id))
            limit = max(target.threshold.min_size, target.threshold.max_percent / 100 * assigned)
            over_limit[target_id] = repo.removals_in_hour(target_id, now) + count > limit
    for index, (o, etag, _) in enumerate(plan.orders):
        if etag is not None:
            continue
        target = targets[o.target_id]
        if target.approval == "always" or (o.action in REMOVALS and over_limit.get(target.id, False)):
            waiting = o.model_copy(update={"state": OrderState.awaiting_approval, "history": [
                *o.history, OrderEvent(state=OrderState.awaiting_approval, at=now, by="roster",
                                       note=f"approval: {target.approval}")]})
            plan.orders[index] = (waiting, None, None)
    for target_id, count in removals.items():
        repo.count_removals(target_id, now, count)


def _notify_staff(rt: Runtime, target: Target, count: int) -> None:
    link = f"{rt.settings.public_url}/api/console/worklist?target={target.id}"
    email = Email(
        to=[rt.settings.staff_email],
        subject=f"{count} new manual provisioning order{'s' if count != 1 else ''} for {target.name}",
        text=f"{count} new order(s) wait on the worklist of {target.name}.\n\nOpen the worklist: {link}\n",
    )
    rt.bus.publish(rt.settings.queue("notification"), email.model_dump_json(),
                   message_id=bus_id(f"worklist:{target.id}:{rt.clock.now().isoformat()}"))

