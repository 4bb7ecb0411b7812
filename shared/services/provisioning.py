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

from shared.bus.limits import bus_id
from shared.connectors.base import DEFAULT_CONCURRENCY, concurrency_of
from shared.errors import Conflict, NotFound, PersonNotFound
from shared.models.messages import DigestRef, Email, OrderRef, PersonRef
from shared.models.provisioning import (
    MANUAL,
    OPEN_STATES,
    Action,
    Assignment,
    InvalidOrderTransition,
    Move,
    Order,
    OrderEvent,
    OrderState,
    Target,
)
from shared.runtime import Runtime
from shared.services.consequences import PolicyBook, suspension
from shared.services.membership import GroupChange
from shared.services.relay import committed_with, message_id, publish
from shared.services.rulebook import rulebook
from shared.store.audit import audit_entity
from shared.store.contention import retrying
from shared.store.groups import MembershipRepository
from shared.store.keys import instant_key
from shared.store.orders import OrderRepository, new_order_id
from shared.store.outbox import Outgoing
from shared.store.persons import PersonRepository
from shared.store.targets import TargetRepository

ACCOUNT = "account"
DIGEST_MINUTES = 5  # queue-driven manual orders: one email per target per window
ACTION_WORDS = {
    Action.create_account: "account(s) to create", Action.grant: "entitlement(s) to grant",
    Action.revoke: "entitlement(s) to revoke", Action.suspend: "account(s) to suspend",
    Action.restore: "account(s) to restore", Action.disable_account: "account(s) to disable",
    Action.delete_account: "account(s) to delete", Action.reset_credentials: "credential reset(s)",
    Action.update_account: "account change(s)",
}  # fmt: skip
Key = tuple[str, str]  # (target id, entitlement)
PlannedOrder = tuple[Order, str | None, OrderState | None]  # the order, its etag as read, its state as read


@dataclass
class Plan:
    """One evaluation's writes: orders (new, or superseded with their etag), assignments,
    removal counts per target for the mass-change guard."""

    orders: list[PlannedOrder] = field(default_factory=list)
    assignments: dict[Key, Assignment] = field(default_factory=dict)
    removals: dict[str, int] = field(default_factory=dict)

    def new_orders(self) -> list[Order]:
        return [order for order, etag, _ in self.orders if etag is None]

    def then(self, other: Plan) -> Plan:
        """This plan followed by `other` (whose assignments win)."""
        removals = dict(self.removals)
        for target_id, count in other.removals.items():
            removals[target_id] = removals.get(target_id, 0) + count
        return Plan(self.orders + other.orders, {**self.assignments, **other.assignments}, removals)


@dataclass(frozen=True)
class Seen:
    """What one evaluation of one person reads: the same facts feed every step."""

    person_id: str
    cause: str
    actor: str
    now: datetime
    targets: dict[str, Target]
    desired: dict[Key, str]
    suspension: str | None
    assignments: dict[Key, Assignment]
    orders: dict[str, Order]
    etags: dict[str, str]
    marker: str | None
    groups_version: int
    provisioned_version: int

    @classmethod
    def read(cls, rt: Runtime, person_id: str, cause: str, actor: str, book: PolicyBook | None = None) -> Seen:
        """The person's facts as stored now; `book`: targets and policies already read."""
        repo = OrderRepository(rt.store)
        state = MembershipRepository(rt.store).state(person_id)
        book = book or PolicyBook.load(rt)
        marker, provisioned = repo.evaluation_marker(person_id)
        read = repo.of_person_with_etags(person_id)
        return cls(
            person_id, cause, actor, rt.clock.now(), book.targets, book.desired(set(state.groups)),
            book.suspension(state.groups), {(a.target_id, a.entitlement): a for a in repo.assignments(person_id)},
            {o.id: o for o, _ in read}, {o.id: etag for o, etag in read}, marker, state.version, provisioned,
        )

    @classmethod
    def first(cls, rt: Runtime, change: GroupChange, cause: str, actor: str, book: PolicyBook) -> Seen:
        """A person just evaluated for the first time: their groups as `change` says, no
        assignments, orders or evaluation marker yet."""
        return cls(change.person_id, cause, actor, rt.clock.now(), book.targets, book.desired(set(change.groups)),
                   book.suspension(change.groups), {}, {}, {}, None, change.version, 0)

    def order(self, target: Target, entitlement: str, action: Action, reason: str) -> Order:
        """A new order, Pending until the guard and dispatch say where it waits."""
        return Order(id=new_order_id(self.person_id), person_id=self.person_id, target_id=target.id,
                     entitlement=entitlement, action=action, state=OrderState.pending, reason=reason,
                     created_at=self.now, updated_at=self.now,
                     history=[OrderEvent(state=OrderState.pending, at=self.now, by=self.actor, note=reason)])

    def assignment(self, key: Key, status: str, order_id: str) -> Assignment:
        old = self.assignments.get(key)
        return Assignment(
            person_id=self.person_id, target_id=key[0], entitlement=key[1], status=status, order_id=order_id,
            since=self.now if not old or old.status != status else old.since,
            external_id=old.external_id if old else None,
        )

    def superseded(self, order_id: str | None, why: str) -> PlannedOrder | None:
        """An open order made Inactive, or None when there is none to cancel."""
        o = self.orders.get(order_id or "")
        if o is None or o.state not in OPEN_STATES:
            return None
        return o.moved_to(OrderState.inactive, self.actor, why, at=self.now, move=Move.supersede), self.etags[o.id], o.state


def evaluate_provisioning(
    rt: Runtime, person_id: str, cause: str, actor: str = "roster", resume: bool = True, windowed: bool = False,
    book: PolicyBook | None = None, change: GroupChange | None = None, digests: Digests | None = None,
) -> list[Order]:
    """Issue the orders that bring the person's access in line; returns the new ones, as
    they now wait (manual: Transmitted on the worklist; automatic: Pending on the queue;
    AwaitingApproval under the guard). `resume`: older Pending orders move on too (a
    redelivery finishes what an interrupted run began). `windowed` (queue-driven
    evaluations): the desk hears of manual orders in one digest per target per
    DIGEST_MINUTES rather than one email per person. `book`: targets and policies as the
    caller read them (a bulk chunk, once for all its records); else read here. `change`:
    the group change the caller has just made (the in-process chain): the person is not read
    again, and after their first evaluation neither is what was provisioned (nothing yet).
    `digests` (with `windowed`): the worklist orders are counted into it, for the caller to
    `flush` (a bulk chunk, once for all its records); else counted here at once."""
    if change is None and PersonRepository(rt.store).get(person_id) is None:
        raise PersonNotFound(f"no person with id {person_id!r}")
    book = book or PolicyBook.load(rt)
    attempts = iter([change if change is not None and change.first else None])  # a conflict retries with reads
    plan = retrying(lambda: _evaluate_once(rt, person_id, cause, actor, windowed, book, next(attempts, None)),
                    "the person's access is being evaluated by others; retry")
    for target_id, count in plan.removals.items():
        OrderRepository(rt.store).count_removals(target_id, rt.clock.now(), count)
    new = plan.new_orders()
    if windowed:
        tally = digests if digests is not None else Digests()
        tally.add(rt.clock.now(), _manual(new))
        if digests is None:
            tally.flush(rt)
    if resume and not (change and change.first):  # a first evaluation has no older orders
        resume_pending(rt, person_id, skip={o.id for o in new}, targets=book.targets)
    return new


def resume_pending(rt: Runtime, person_id: str, skip: set[str] = frozenset(), before: datetime | None = None,
                   targets: dict[str, Target] | None = None) -> int:
    """Pending orders move on: an automatic target's message is published again (same id:
    the bus drops it if the first got through; the connector ignores a non-Pending order),
    a manual target's order goes onto the worklist. `before`: only orders not touched since.
    `targets`: as the caller read them. Returns how many were resumed."""
    targets = targets if targets is not None else {t.id: t for t in TargetRepository(rt.store).all()}
    count = 0
    for order in OrderRepository(rt.store).of_person(person_id):
        touched = max(order.updated_at, order.next_attempt_at or order.updated_at)  # a wait is scheduled
        if order.state != OrderState.pending or order.id in skip or (before and touched >= before):
            continue
        target = targets.get(order.target_id)
        if target is None:
            continue
        if target.connector == MANUAL:
            try:
                release(rt, order.id, None, "roster", "resumed: on the staff worklist")
            except Conflict:  # moved on meanwhile
                continue
        else:
            publish(rt, order_message(order, target))
        count += 1
    return count


def _evaluate_once(rt: Runtime, person_id: str, cause: str, actor: str, windowed: bool, book: PolicyBook,
                   first: GroupChange | None) -> Plan:
    """Read → suspension orders → access orders → guard → dispatch → one batch. `first`: the
    person's first group evaluation, just made: nothing provisioned to read."""
    seen = Seen.first(rt, first, cause, actor, book) if first else Seen.read(rt, person_id, cause, actor, book)
    plan = suspension_orders(seen).then(access_orders(seen))
    plan = guarded(seen, plan, _over_limit(rt, seen, plan.removals))
    plan, messages = dispatched(rt, seen, plan, notify=not windowed)
    if plan.orders or plan.assignments or seen.groups_version > seen.provisioned_version:
        audits = [
            audit_entity(f"person:{person_id}", seen.now, actor, f"order.{o.action.value}", o.reason,
                         {"order_id": o.id, "target_id": o.target_id, "entitlement": o.entitlement,
                          "state": o.state.value}, n)
            for n, o in enumerate(plan.new_orders())
        ]
        evaluated = (seen.now, seen.marker, max(seen.groups_version, seen.provisioned_version))
        committed_with(rt, "orders", f"person:{person_id}", messages, lambda outbox: OrderRepository(rt.store).commit(
            person_id, plan.orders, list(plan.assignments.values()), audits, evaluated, outbox))
    return plan


def suspension_orders(seen: Seen) -> Plan:
    """While suspended every active account gets `suspend`; once lifted, still-desired
    accounts get `restore` (or the suspend that never ran is cancelled)."""
    plan = Plan()
    for key, a in sorted(seen.assignments.items()):
        target = seen.targets.get(key[0])
        if target is None or key[1] != ACCOUNT:
            continue
        if seen.suspension and a.status == "active":
            o = seen.order(target, ACCOUNT, Action.suspend, f"member of {seen.suspension}: {seen.cause}")
            plan.orders.append((o, None, None))
            plan.assignments[key] = seen.assignment(key, "suspended", o.id)
        elif not seen.suspension and a.status == "suspended" and key in seen.desired:
            plan = plan.then(_lifted(seen, target, key, a))
    return plan


def _lifted(seen: Seen, target: Target, key: Key, a: Assignment) -> Plan:
    cancelled = seen.superseded(a.order_id, "suspension lifted before it was carried out")
    if cancelled:
        return Plan([cancelled], {key: seen.assignment(key, "active", a.order_id)})
    o = seen.order(target, ACCOUNT, Action.restore, f"suspension lifted: {seen.cause}")
    return Plan([(o, None, None)], {key: seen.assignment(key, "active", o.id)})


def access_orders(seen: Seen) -> Plan:
    """Desired against held, accounts before what is granted in them (one person's orders
    run in this order): grants for the newly desired, removals for the no longer desired."""
    plan = Plan()
    for key in sorted(set(seen.desired) | set(seen.assignments), key=lambda k: (k[0], k[1] != ACCOUNT, k[1])):
        target = seen.targets.get(key[0])
        if target is None:
            continue
        a = seen.assignments.get(key)
        held = a is not None and a.status != "removed"
        if key in seen.desired and not held and not seen.suspension:
            plan = plan.then(_granted(seen, target, key, a))
        elif key not in seen.desired and held:
            plan = plan.then(_removed(seen, target, key, a))
    return plan


def _granted(seen: Seen, target: Target, key: Key, a: Assignment | None) -> Plan:
    latest = seen.orders.get(a.order_id) if a else None
    cancelled = latest and latest.action.removes and seen.superseded(
        latest.id, "wanted again before removal was carried out")
    if cancelled:
        return Plan([cancelled], {key: seen.assignment(key, "active", _granting_order(seen.orders, key) or latest.id)})
    action = Action.create_account if key[1] == ACCOUNT else Action.grant
    o = seen.order(target, key[1], action, f"member of {seen.desired[key]}: {seen.cause}")
    return Plan([(o, None, None)], {key: seen.assignment(key, "active", o.id)})


def _removed(seen: Seen, target: Target, key: Key, a: Assignment) -> Plan:
    latest = seen.orders.get(a.order_id)
    cancelled = latest and latest.action.grants and seen.superseded(latest.id, f"no longer wanted: {seen.cause}")
    if cancelled:
        return Plan([cancelled], {key: seen.assignment(key, "removed", latest.id)})
    action = Action.revoke if key[1] != ACCOUNT else (
        Action.delete_account if target.on_remove == "delete" else Action.disable_account)
    o = seen.order(target, key[1], action, f"no longer granted by any group: {seen.cause}")
    return Plan([(o, None, None)], {key: seen.assignment(key, "removed", o.id)}, {target.id: 1})


def guarded(seen: Seen, plan: Plan, over_limit: dict[str, bool]) -> Plan:
    """Approval: new orders of an `always` target, and removals of a target over its hourly
    threshold, wait in AwaitingApproval."""
    orders = []
    for o, etag, previous in plan.orders:
        target = seen.targets[o.target_id]
        if etag is None and (target.approval == "always" or (o.action.removes and over_limit.get(target.id))):
            o = o.moved_to(OrderState.awaiting_approval, "roster", f"approval: {target.approval}", at=seen.now,
                           move=Move.hold)
        orders.append((o, etag, previous))
    return Plan(orders, plan.assignments, plan.removals)


def _over_limit(rt: Runtime, seen: Seen, removals: dict[str, int]) -> dict[str, bool]:
    """Per `threshold` target: would this run's removals pass the hour's limit?"""
    repo, over = OrderRepository(rt.store), {}
    for target_id, count in removals.items():
        target = seen.targets[target_id]
        if target.approval == "threshold":
            assigned = sum(1 for _ in repo.assigned(target_id))
            limit = max(target.threshold.min_size, target.threshold.max_percent / 100 * assigned)
            over[target_id] = repo.removals_in_hour(target_id, seen.now) + count > limit
    return over


def dispatched(rt: Runtime, seen: Seen, plan: Plan, notify: bool = True) -> tuple[Plan, list[Outgoing]]:
    """New Pending orders go where they wait, in the same batch: a manual target's onto the
    worklist (Transmitted; staff told, `notify`), an automatic one's onto the queue (a message)."""
    orders, messages = [], []
    for o, etag, previous in plan.orders:
        if etag is None and o.state == OrderState.pending:
            o, message = _released(seen.targets[o.target_id], o, seen.now)
            messages += message
        orders.append((o, etag, previous))
    released = Plan(orders, plan.assignments, plan.removals)
    if notify:
        messages += [_staff_notice(rt, seen.targets[t], batch, None) for t, batch in _manual(released.new_orders()).items()]
    return released, messages


def _manual(orders: list[Order]) -> dict[str, list[Order]]:
    """The orders put on a worklist, per target."""
    found: dict[str, list[Order]] = {}
    for o in orders:
        if o.state == OrderState.transmitted:
            found.setdefault(o.target_id, []).append(o)
    return found


def dispatch(rt: Runtime, orders: list[Order], about: str | None = None, windowed: bool = False) -> list[Order]:
    """Pending orders (approved, or made by the request desk) go where they wait, each in
    one write (`release`); the desk gets one digest per target for the batch (`about`: what
    it came from, e.g. a request number). Returns the orders as they are now."""
    result = []
    for order in orders:
        if order.state != OrderState.pending:
            result.append(order)
            continue
        try:
            result.append(release(rt, order.id, None, "roster", "on the staff worklist", notify=False))
        except Conflict:  # moved on meanwhile (a sweep, another call)
            result.append(order)
    targets, digests = {t.id: t for t in TargetRepository(rt.store).all()}, Digests()
    for target_id, batch in _manual(result).items():
        if windowed:
            digests.add(rt.clock.now(), {target_id: batch})
        else:
            publish(rt, _staff_notice(rt, targets[target_id], batch, about))
    digests.flush(rt)  # nothing when not windowed
    return result


def _released(target: Target, order: Order, now: datetime) -> tuple[Order, list[Outgoing]]:
    """A Pending order where it waits next: Transmitted (manual) or with its queue message."""
    if target.connector == MANUAL:
        return order.moved_to(OrderState.transmitted, "roster", "on the staff worklist", at=now, move=Move.dispatch), []
    return order, [order_message(order, target)]


def order_message(order: Order, target: Target | None) -> Outgoing:
    """The `provisioning-order` message of one attempt of an order — scheduled for its
    `next_attempt_at` when it waits (docs/operations.md) — with the same id for the same
    attempt and wait, so a repeated publish is dropped by the bus. Its session is the
    order's lane (`lane`)."""
    body = OrderRef(order_id=order.id).model_dump_json()
    session = lane(order, target)
    if order.next_attempt_at is None:
        return Outgoing("provisioning-order", body, message_id("order", order.id, order.attempts), session_id=session)
    stamp = instant_key(order.next_attempt_at)
    return Outgoing("provisioning-order", body, message_id("order", order.id, order.attempts, "at", stamp),
                    session_id=session, scheduled_at=order.next_attempt_at)


def lane(order: Order, target: Target | None) -> str:
    """`<target id>|<n>`: the target's orders are spread over `concurrency` lanes (its
    setting, default 4; shared/connectors/base.py), a person's always in the same one. The
    queue is session-enabled with the lane as session: one lane's messages come in order,
    one batch at a time, so a target never has more than `concurrency` batches running, and
    one person's orders for it never overtake each other (docs/provisioning.md, Dispatch)."""
    lanes = concurrency_of(target) if target is not None else DEFAULT_CONCURRENCY
    number = int(hashlib.sha256(order.person_id.encode("utf-8")).hexdigest()[:8], 16) % lanes
    return bus_id(f"{order.target_id}|{number}")


def release(rt: Runtime, order_id: str, move: Move | None, by: str, note: str, notify: bool = True) -> Order:
    """`move` an order to Pending (approve, retry; None: it is Pending already) and on to
    where it waits next — with its queue message, or on the worklist (staff told, `notify`)
    — in one write. A retry counts a new attempt (a new message id) and clears the error."""
    def step(order: Order) -> tuple[Order, list[Outgoing]]:
        now = rt.clock.now()
        target = TargetRepository(rt.store).get(order.target_id)
        changes = {"attempts": order.attempts + 1, "failures": 0, "next_attempt_at": None, "error": None} \
            if move == Move.retry else {}
        if move is None and order.state != OrderState.pending:
            raise InvalidOrderTransition(f"the {order.action.value} order in {order.target_id} is "
                                         f"{order.state.value}, not Pending", current_state=order.state.value)
        pending = order if move is None else order.moved_to(OrderState.pending, by, note, at=now, move=move, **changes)
        if target is None:
            return pending, []
        released, messages = _released(target, pending, now)
        notices = [_staff_notice(rt, target, [released], None)] if notify and released.state == OrderState.transmitted \
            else []
        return released, messages + notices

    return _change(rt, order_id, step)


def transition(
    rt: Runtime, order_id: str, move: Move, state: OrderState, by: str, note: str = "",
    held: Callable[[Order], list[Assignment]] | None = None, announce: bool = False, **changes,
) -> Order:
    """Store one order after `move` to `state` (Order.moved_to: 409 when its state does not
    allow it). An `external_id` among the changes is kept on the account's assignment in the
    same write, as are `held(order)`'s assignments (what staff recorded); `announce`: the
    order's queue message (scheduled when it waits) goes in the same batch."""
    def step(order: Order) -> tuple[Order, list[Outgoing]]:
        updated = order.moved_to(state, by, note, at=rt.clock.now(), move=move, **changes)
        return updated, [order_message(updated, TargetRepository(rt.store).get(order.target_id))] if announce else []

    return _change(rt, order_id, step, held)


def _change(rt: Runtime, order_id: str, step, held: Callable[[Order], list[Assignment]] | None = None) -> Order:
    """Read the order, write `step(order)` (which checks the move) with its messages and the
    account's external id (If-Match on the order)."""
    repo = OrderRepository(rt.store)

    def once() -> Order:
        found = repo.get(order_id)
        if found is None:
            raise NotFound(f"no order {order_id!r}")
        order, etag = found
        updated, messages = step(order)
        audits = [
            audit_entity(f"person:{order.person_id}", e.at, e.by, f"order.{e.state.value}", e.note or e.state.value,
                         {"order_id": order_id, "from": order.state.value}, n)
            for n, e in enumerate(updated.history[len(order.history):], start=len(order.history) + 1)
        ]
        recorded = held(updated) if held else []
        accounts = list({(a.target_id, a.entitlement): a for a in _external_id_kept(repo, updated) + recorded}.values())
        committed_with(rt, "orders", f"person:{order.person_id}", messages,
                       lambda outbox: repo.commit(order.person_id, [(updated, etag, order.state)], accounts, audits,
                                                  outbox=outbox))
        return updated

    return retrying(once, f"order {order_id} is being changed by others; retry")


def _external_id_kept(repo: OrderRepository, order: Order) -> list[Assignment]:
    """The account's assignment with the id the target gave it, when that is new."""
    if not order.external_id:
        return []
    account = next((a for a in repo.assignments(order.person_id)
                    if (a.target_id, a.entitlement) == (order.target_id, ACCOUNT)), None)
    if account is None or account.external_id == order.external_id:
        return []
    return [account.model_copy(update={"external_id": order.external_id})]


def announce_members(rt: Runtime, group_id: str, cause: str) -> int:
    """A policy changed: the group's members are re-provisioned through `group-update`."""
    count = 0
    for person_id in MembershipRepository(rt.store).mirrored_person_ids(group_id):
        publish(rt, Outgoing("group-update", PersonRef(person_id=person_id, cause=cause).model_dump_json(),
                             message_id("policy", group_id, person_id, rt.clock.now().isoformat()),
                             session_id=person_id))
        count += 1
    return count


def suspended_by(rt: Runtime, person_id: str) -> str | None:
    """The suspend group the person is in now, if any."""
    return suspension(rulebook(rt.store, rt.clock), MembershipRepository(rt.store).state(person_id).groups)


def _granting_order(orders: dict[str, Order], key: tuple[str, str]) -> str | None:
    granting = [o for o in orders.values() if (o.target_id, o.entitlement) == key and o.action.grants]
    return max(granting, key=lambda o: o.created_at).id if granting else None


def _staff_notice(rt: Runtime, target: Target, batch: list[Order], about: str | None) -> Outgoing:
    """One digest email for a batch of worklist orders; its id comes from the orders, so a
    retried batch does not send it twice."""
    email = digest_email(rt, target, dict(Counter(o.action.value for o in batch)), about)
    digest = hashlib.sha256("|".join(sorted(o.id for o in batch)).encode()).hexdigest()[:24]
    return Outgoing("notification", email.model_dump_json(), message_id("worklist", target.id, digest))


@dataclass
class Digests:
    """Worklist orders counted for the desk's digests, per target and DIGEST_MINUTES window,
    until `flush` adds them to the stored counts — once per target and window for a whole
    bulk chunk rather than once per person."""

    counts: dict[tuple[str, datetime], Counter] = field(default_factory=dict)

    def add(self, now: datetime, orders: dict[str, list[Order]]) -> Digests:
        """Count each target's worklist `orders` into the window of `now`."""
        now = now.astimezone(UTC)
        start = now.replace(second=0, microsecond=0, minute=now.minute - now.minute % DIGEST_MINUTES)
        for target_id, batch in orders.items():
            self.counts.setdefault((target_id, start), Counter()).update(o.action.value for o in batch)
        return self

    def flush(self, rt: Runtime) -> None:
        """Add the counts to each target's digest of its window; the digest's message is
        scheduled for the window's end (one per window: the bus drops the repeats by id)."""
        repo = OrderRepository(rt.store)
        for (target_id, start), counts in self.counts.items():
            window = start.strftime("%Y%m%dT%H%M")
            repo.add_to_digest(target_id, window, dict(counts))
            publish(rt, Outgoing("notification", DigestRef(digest=target_id, window=window).model_dump_json(),
                                 message_id("digest", target_id, window),
                                 scheduled_at=start + timedelta(minutes=DIGEST_MINUTES)))
        self.counts.clear()


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
