"""Group evaluation for one person at now: joins and leaves with reasons, and the next
instant anything can change, scheduled so nothing waits for a nightly batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.errors import PersonNotFound
from shared.models.group import Membership
from shared.models.messages import PersonRef
from shared.models.person import Person
from shared.runtime import Runtime
from shared.services.relay import committed_with, message_id, publish
from shared.services.rulebook import RuleBook, rulebook
from shared.store.audit import audit_entity
from shared.store.contention import retrying
from shared.store.groups import DueIndex, MembershipRepository, PersonState, person_partition
from shared.store.orders import OrderRepository
from shared.store.outbox import Outgoing
from shared.store.persons import PersonRepository

UPCOMING_LIMIT = 50


@dataclass
class GroupChange:
    person_id: str
    added: list[dict] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    next_change: datetime | None = None
    cause: str = ""
    version: int = 0  # of the person's memberships after this evaluation
    first: bool = False  # the person's first evaluation: nothing was stored about them before

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)

    def as_response(self) -> dict:
        return {"added": self.added, "removed": self.removed}


def evaluate_person(
    rt: Runtime, person_id: str, cause: str, actor: str = "roster", announce: bool = True,
    person: Person | None = None, new: bool = False, rules: RuleBook | None = None,
) -> GroupChange:
    """Re-evaluate one person. A change announces `group-update` (unless the caller
    provisions in-process next: `announce=False`) in the same batch as the memberships;
    when nothing changed but provisioning has not yet seen the current memberships (an
    interrupted run), the event is published again. `person`: the person as the caller has
    just stored it (registration in-process), not read again; `new`: just created, so
    nothing is stored about their groups yet (not read; a conflict retries with reads);
    `rules`: the rule book as the caller read it (a bulk chunk, once for all its records)."""
    attempts = iter([new])

    def once() -> GroupChange:
        book = rules or rulebook(rt.store, rt.clock)
        return _evaluate_once(rt, person or _person(rt, person_id), cause, actor, announce, next(attempts, False), book)

    return retrying(once, "the person's groups are being evaluated by others; retry")


def boundaries(person: Person, statics: list[Membership], after: datetime, tz) -> list[datetime]:
    """Every future instant at which a rule or a dated membership can change its answer."""
    instants = set()
    for affiliation in person.affiliations:
        instants.add(affiliation.starts_at(tz))
        if (ends := affiliation.ends_at(tz)) is not None:
            instants.add(ends)
    for membership in statics:
        instants.update(i for i in (membership.start, membership.end) if i is not None)
    return sorted(i.astimezone(UTC) for i in instants if i > after)


def memberships_of(rt: Runtime, person_id: str) -> list[dict]:
    """Every membership row of the person (current, future, rule-based) with its reason."""
    _person(rt, person_id)
    now = rt.clock.now()
    return [
        {**m.model_dump(mode="json"), "active": m.active_at(now)}
        for m in MembershipRepository(rt.store).of_person(person_id)
    ]


def upcoming(rt: Runtime, person_id: str) -> list[dict]:
    """The dated changes to come: at each boundary, who joins and leaves what."""
    person = _person(rt, person_id)
    statics = [m for m in MembershipRepository(rt.store).of_person(person_id) if m.kind == "static"]
    book, tz, now = rulebook(rt.store, rt.clock), rt.settings.tz, rt.clock.now()
    current = book.effective(person, statics, now, tz)
    changes = []
    for instant in boundaries(person, statics, now, tz):
        then = book.effective(person, statics, instant, tz)
        changes += [{"group_id": g, "change": "join", "at": instant, "reason": then[g]} for g in sorted(then.keys() - current.keys())]
        changes += [{"group_id": g, "change": "leave", "at": instant, "reason": current[g]} for g in sorted(current.keys() - then.keys())]
        if then.keys() != current.keys():
            changes.append({"groups": set(then), "at": instant})  # the orders of this instant, below
        current = then
        if len(changes) >= UPCOMING_LIMIT:
            break
    return _with_orders(rt, person_id, changes)[:UPCOMING_LIMIT]


def _with_orders(rt: Runtime, person_id: str, changes: list[dict]) -> list[dict]:
    """Each change carries `orders`: what provisioning would order at its instant, given the
    person's access as it is now (the same list for the changes of one instant)."""
    from shared.services import consequences

    book, result, pending = consequences.PolicyBook.load(rt), [], []
    for change in changes:
        if "groups" not in change:
            pending.append(change)
            continue
        orders = consequences.for_person(rt, person_id, change["groups"], book)
        result += [{**c, "orders": orders} for c in pending]
        pending = []
    return result + pending


def sweep_due(rt: Runtime) -> int:
    """Safety net under scheduled messages: re-announce everyone whose change is due."""
    count = 0
    for person_id, at in DueIndex(rt.store).due(rt.clock.now()):
        publish(rt, _dated(person_id, at, scheduled=False))
        count += 1
    return count


@dataclass
class _Diff:
    """What one evaluation found: the rows to write and the change to report."""

    upserts: list[Membership]
    deletes: list[str]
    change: GroupChange

    def writes_nothing(self, state: PersonState) -> bool:
        return (not (self.upserts or self.deletes or self.change.changed) and state.etag is not None
                and state.next_change == self.change.next_change)


def _evaluate_once(rt: Runtime, person: Person, cause: str, actor: str, announce: bool, new: bool,
                   book: RuleBook) -> GroupChange:
    person_id = person.id
    repo = MembershipRepository(rt.store)
    memberships, state = ([], PersonState()) if new else (repo.of_person(person_id), repo.state(person_id))
    diff = _diff(rt, book, person, memberships, state, cause)
    diff.change.first = new
    diff.change.version = state.version
    if diff.writes_nothing(state):
        if announce and provisioned_version(rt, person_id) < state.version:
            publish(rt, _group_update(person_id, state.version, cause))
        return diff.change
    _commit(rt, repo, diff, state, actor, announce)
    diff.change.version = state.version + 1
    return diff.change


def _diff(rt: Runtime, book: RuleBook, person: Person, memberships: list[Membership], state: PersonState,
          cause: str) -> _Diff:
    """Rules and static memberships at now against the stored rows and the last state."""
    now, tz = rt.clock.now(), rt.settings.tz
    statics = [m for m in memberships if m.kind == "static"]
    stored = {m.group_id: m for m in memberships}
    known = {g: m.reason for g, m in stored.items() if m.kind == "rule"}
    effective = book.effective(person, statics, now, tz, known)
    upserts, deletes = _rows(person.id, stored, effective, set(book.groups), now)
    change = GroupChange(
        person.id, groups=sorted(effective), cause=cause,
        next_change=next(iter(boundaries(person, statics, now, tz)), None),
        added=[{"group_id": g, "reason": effective[g]} for g in sorted(effective.keys() - set(state.groups))],
        removed=[{"group_id": g, "reason": stored[g].reason if g in stored else "no longer a member"}
                 for g in sorted(set(state.groups) - effective.keys())],
    )
    return _Diff(upserts, deletes, change)


def _rows(person_id: str, stored: dict[str, Membership], effective: dict[str, str], groups: set[str],
          now: datetime) -> tuple[list[Membership], list[str]]:
    """The membership rows to write (new or with a new reason) and to delete (ended, gone)."""
    upserts = [
        Membership(group_id=g, person_id=person_id, kind="rule", reason=reason,
                   since=stored[g].since if g in stored else now, clauses=[])
        for g, reason in effective.items()
        if g not in stored or (stored[g].kind == "rule" and stored[g].reason != reason)
    ]
    deletes = [g for g, m in stored.items()
               if _ended(m, now) or g not in groups or (m.kind == "rule" and g not in effective)]
    return upserts, deletes


def _ended(membership: Membership, now: datetime) -> bool:
    return membership.kind == "static" and membership.end is not None and membership.end <= now


def _commit(rt: Runtime, repo: MembershipRepository, diff: _Diff, state: PersonState, actor: str,
            announce: bool) -> None:
    """One batch: memberships, audit, the new state and the events it causes (outbox); the
    due index is written before it (a crash leaves an extra, harmless check) and the old
    due entry removed after it."""
    now, change, person_id = rt.clock.now(), diff.change, diff.change.person_id
    audits = [
        audit_entity(person_partition(person_id), now, actor, f"membership.{verb}", change.cause,
                     {"group_id": item["group_id"], "reason": item["reason"]}, n)
        for n, (verb, item) in enumerate([("joined", a) for a in change.added] + [("left", r) for r in change.removed])
    ]
    new_state = PersonState(change.groups, change.next_change, now, state.etag, state.version + 1)
    messages = _schedule(person_id, state.next_change, change.next_change)
    if announce and change.changed:
        messages.append(_group_update(person_id, new_state.version, change.cause))
    due = DueIndex(rt.store)
    if change.next_change and change.next_change != state.next_change:
        due.add(person_id, change.next_change)
    committed_with(rt, "memberships", person_partition(person_id), messages,
                   lambda outbox: repo.commit(person_id, diff.upserts, diff.deletes, new_state, audits, outbox))
    if state.next_change and state.next_change != change.next_change:
        due.remove(person_id, state.next_change)


def _group_update(person_id: str, version: int, cause: str) -> Outgoing:
    return Outgoing("group-update", PersonRef(person_id=person_id, cause=cause).model_dump_json(),
                    message_id("group-update", person_id, f"s{version}"), session_id=person_id)


def _schedule(person_id: str, before: datetime | None, after: datetime | None) -> list[Outgoing]:
    """The scheduled `person-changed` for a new next-change instant (none if unchanged)."""
    return [_dated(person_id, after, scheduled=True)] if after and after != before else []


def _dated(person_id: str, at: datetime, scheduled: bool) -> Outgoing:
    return Outgoing(
        "person-changed", PersonRef(person_id=person_id, cause=f"dated change at {at.isoformat()}").model_dump_json(),
        message_id("dated", person_id, at.isoformat() + ("" if scheduled else ":sweep")),
        session_id=person_id, scheduled_at=at if scheduled else None,
    )


def provisioned_version(rt: Runtime, person_id: str) -> int:
    """The version of the person's memberships that provisioning last evaluated."""
    return OrderRepository(rt.store).provisioned_version(person_id)


def _person(rt: Runtime, person_id: str) -> Person:
    stored = PersonRepository(rt.store).get(person_id)
    if stored is None:
        raise PersonNotFound(f"no person with id {person_id!r}")
    return stored.person
