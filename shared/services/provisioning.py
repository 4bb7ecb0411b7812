"""Provisioning for one person: memberships × policies → desired entitlements, diffed
against assignments → orders that say why they exist (docs/architecture.md §5, Provisioning).

Assignments record what Roster has ordered. A new order supersedes an open opposite one
(grant, then revoke before anybody carried it out: the grant becomes Inactive). While the
person is in a `suspend` group every account is suspended first and nothing is granted.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.bus import bus_id
from shared.errors import Busy, NotFound, PersonNotFound
from shared.models.messages import DigestRef, Email, OrderRef, PersonRef
from shared.models.provisioning import (
    MANUAL,
    OPEN_STATES,
    Action,
    Assignment,
    Move,
    Order,
    OrderState,
    Target,
)
from shared.runtime import Runtime
from shared.services.consequences import PolicyBook
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
DIGEST_MINUTES = 5  # queue-driven manual orders: one email per target per window
ACTION_WORDS = {
    Action.create_account: "account(s) to create", Action.grant: "entitlement(s) to grant",
    Action.revoke: "entitlement(s) to revoke", Action.suspend: "account(s) to suspend",
    Action.restore: "account(s) to restore", Action.disable_account: "account(s) to disable",
    Action.delete_account: "account(s) to delete", Action.reset_credentials: "credential reset(s)",
    Action.update_account: "account change(s)",
}  # fmt: skip


@dataclass
class Plan:
    """One evaluation's writes."""

    orders: list[tuple[Order, str | None, OrderState | None]] = field(default_factory=list)
    assignments: dict[tuple[str, str], Assignment] = field(default_factory=dict)

    def new_orders(self) -> list[Order]:
        return [order for order, etag, _ in self.orders if etag is None]


def evaluate_provisioning(rt: Runtime, person_id: str, cause: str, actor: str = "roster",
                          windowed: bool = False) -> list[Order]:
    """Issue the orders that bring the person's access in line; returns the new ones.
    `windowed` (queue-driven evaluations): the desk hears of manual orders in one digest per
    target per DIGEST_WINDOW rather than one email per person."""
    if PersonRepository(rt.store).get(person_id) is None:
        raise PersonNotFound(f"no person with id {person_id!r}")
    plan = retrying(lambda: _plan(rt, person_id, cause, actor),
                    "the person's access is being evaluated by others; retry")
    return dispatch(rt, plan.new_orders(), windowed=windowed)


def dispatch(rt: Runtime, orders: list[Order], about: str | None = None, windowed: bool = False) -> list[Order]:
    """Pending orders go to their connector: the worklist (manual) or the queue (automatic).
    The desk gets one digest per target for the batch (`about`: what it came from, e.g. a
    request number). Returns the orders as they are now."""
    targets = {t.id: t for t in TargetRepository(rt.store).all()}
    manual: dict[str, list[Order]] = {}
    result = []
    for order in orders:
        target = targets[order.target_id]
        if order.state != OrderState.pending:
            result.append(order)
        elif target.connector == MANUAL:
            result.append(transition(rt, order.id, Move.dispatch, OrderState.transmitted, "roster",
                                     "on the staff worklist"))
            manual.setdefault(target.id, []).append(order)
        else:
            result.append(order)
            rt.bus.publish(rt.settings.queue("provisioning-order"), OrderRef(order_id=order.id).model_dump_json(),
                           message_id=bus_id(f"order:{order.id}:{order.attempts}"), session_id=order.person_id)
    for target_id, batch in manual.items():
        (_count_for_digest if windowed else _notify_staff)(rt, targets[target_id], batch, about)
    return result


def transition(
    rt: Runtime, order_id: str, move: Move, state: OrderState, by: str, note: str = "",
    held: Callable[[Order], list[Assignment]] | None = None, **changes,
) -> Order:
    """Store one order after `move` to `state` (Order.moved_to: 409 when its state does not
    allow it); `held(order)` gives assignments to write in the same batch (what staff recorded)."""
    repo = OrderRepository(rt.store)
    for _ in range(ATTEMPTS):
        found = repo.get(order_id)
        if found is None:
            raise NotFound(f"no order {order_id!r}")
        order, etag = found
        now = rt.clock.now()
        updated = order.moved_to(state, by, note, at=now, move=move, **changes)
        audit = audit_entity(f"person:{order.person_id}", now, by, f"order.{state.value}", note or state.value,
                             {"order_id": order_id, "from": order.state.value}, len(updated.history))
        try:
            repo.commit(order.person_id, [(updated, etag, order.state)], held(updated) if held else [], [audit])
            return updated
        except ETagMismatch:
            continue
    raise Busy("the order is being changed by others; retry")


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
    book = PolicyBook.load(rt)
    targets = book.targets
    desired = book.desired(set(MembershipRepository(rt.store).state(person_id).groups))
    suspension = suspended_by(rt, person_id)
    marker = repo.evaluation_etag(person_id)
    assignments = {(a.target_id, a.entitlement): a for a in repo.assignments(person_id)}
    read = repo.of_person_with_etags(person_id)
    orders = {o.id: o for o, _ in read}
    etags = {o.id: etag for o, etag in read}
    plan = Plan()
    removals: dict[str, int] = {}

    def order(target: Target, entitlement: str, action: Action, reason: str) -> Order:
        o = Order.new(id=new_order_id(person_id), person_id=person_id, target_id=target.id,
                      entitlement=entitlement, action=action, reason=reason, at=now, by=actor)
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
        inactive = o.moved_to(OrderState.inactive, actor, why, at=now, move=Move.supersede)
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
            if latest and latest.action.removes and supersede(latest.id, "wanted again before removal was carried out"):
                assign(key, "active", _granting_order(orders, key) or latest.id)
                continue
            action = Action.create_account if key[1] == ACCOUNT else Action.grant
            o = order(target, key[1], action, f"member of {desired[key]}: {cause}")
            assign(key, "active", o.id)
        elif key not in desired and held:
            if latest and latest.action.grants and supersede(latest.id, f"no longer wanted: {cause}"):
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


def _granting_order(orders: dict[str, Order], key: tuple[str, str]) -> str | None:
    granting = [o for o in orders.values() if (o.target_id, o.entitlement) == key and o.action.grants]
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
        if target.approval == "always" or (o.action.removes and over_limit.get(target.id, False)):
            waiting = o.moved_to(OrderState.awaiting_approval, "roster", f"approval: {target.approval}",
                                 at=now, move=Move.hold)
            plan.orders[index] = (waiting, None, None)
    for target_id, count in removals.items():
        repo.count_removals(target_id, now, count)


def _notify_staff(rt: Runtime, target: Target, batch: list[Order], about: str | None) -> None:
    """One digest for the batch, now. Its id comes from the orders, so a retried batch does
    not send it twice."""
    email = digest_email(rt, target, dict(Counter(o.action.value for o in batch)), about)
    digest = hashlib.sha256("|".join(sorted(o.id for o in batch)).encode()).hexdigest()[:24]
    rt.bus.publish(rt.settings.queue("notification"), email.model_dump_json(), message_id=bus_id(f"worklist:{target.id}:{digest}"))


def _count_for_digest(rt: Runtime, target: Target, batch: list[Order], about: str | None) -> None:
    """Count the batch into the target's digest of this window; the digest's message is
    scheduled for the window's end (one per window: the bus drops the repeats by id)."""
    now = rt.clock.now().astimezone(UTC)
    start = now.replace(second=0, microsecond=0, minute=now.minute - now.minute % DIGEST_MINUTES)
    window = start.strftime("%Y%m%dT%H%M")
    OrderRepository(rt.store).add_to_digest(target.id, window, dict(Counter(o.action.value for o in batch)))
    rt.bus.publish(rt.settings.queue("notification"), DigestRef(digest=target.id, window=window).model_dump_json(),
                   message_id=bus_id(f"digest:{target.id}:{window}"), scheduled_at=start + timedelta(minutes=DIGEST_MINUTES))


def send_digest(rt: Runtime, ref: DigestRef) -> None:
    """A digest is due: its email goes to the mailer, then the counts are forgotten (a crash
    in between sends it once more, never loses it)."""
    repo = OrderRepository(rt.store)
    counts = repo.digest(ref.digest, ref.window)
    target = TargetRepository(rt.store).get(ref.digest)
    if counts and target is not None:
        rt.mail.send(digest_email(rt, target, counts, None))
    repo.forget_digest(ref.digest, ref.window)


def digest_email(rt: Runtime, target: Target, counts: dict[str, int], about: str | None) -> Email:
    """How many orders wait, of which kind, what they came from, and the worklist's link."""
    count = sum(counts.values())
    lines = [f"- {n} {ACTION_WORDS.get(Action(a), a)}" for a, n in sorted(counts.items())]
    link = f"{rt.settings.public_url}/api/console/worklist?target={target.id}"
    prefix = f"{about}: " if about else ""
    return Email(
        to=[rt.settings.staff_email],
        subject=f"{prefix}{count} new manual provisioning order{'s' if count != 1 else ''} for {target.name}",
        text=(f"{count} new order{'s' if count != 1 else ''} wait on the worklist of {target.name}"
              f"{' for ' + about if about else ''}:\n" + "\n".join(lines) + f"\n\nOpen the worklist: {link}\n"),
    )
