"""Group evaluation for one person at now: joins and leaves with reasons, and the next
instant anything can change, scheduled so nothing waits for a nightly batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.bus import bus_id
from shared.errors import PersonNotFound
from shared.models.group import Membership
from shared.models.messages import PersonRef
from shared.models.person import Person
from shared.runtime import Runtime
from shared.services.contention import retrying
from shared.services.rulebook import RuleBook, rulebook
from shared.store.audit import audit_entity
from shared.store.groups import DueIndex, MembershipRepository, PersonState, person_partition
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

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)

    def as_response(self) -> dict:
        return {"added": self.added, "removed": self.removed}


def evaluate_person(
    rt: Runtime, person_id: str, cause: str, actor: str = "roster", announce: bool = True
) -> GroupChange:
    """Re-evaluate one person; publishes `group-update` when their groups changed (unless the
    caller provisions in-process next: `announce=False`)."""
    change = retrying(lambda: _evaluate_once(rt, person_id, cause, actor),
                      "the person's groups are being evaluated by others; retry")
    if announce and change.changed:
        rt.bus.publish(
            rt.settings.queue("group-update"),
            PersonRef(person_id=person_id, cause=change.cause).model_dump_json(),
            message_id=bus_id(f"group-update:{person_id}:{rt.clock.now().isoformat()}"),
            session_id=person_id,
        )
    return change


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
        current = then
        if len(changes) >= UPCOMING_LIMIT:
            break
    return changes[:UPCOMING_LIMIT]


def sweep_due(rt: Runtime) -> int:
    """Safety net under scheduled messages: re-announce everyone whose change is due."""
    count = 0
    for person_id, at in DueIndex(rt.store).due(rt.clock.now()):
        _schedule(rt, person_id, at, scheduled=False)
        count += 1
    return count


def _evaluate_once(rt: Runtime, person_id: str, cause: str, actor: str) -> GroupChange:
    now, tz = rt.clock.now(), rt.settings.tz
    person = _person(rt, person_id)
    repo = MembershipRepository(rt.store)
    book: RuleBook = rulebook(rt.store, rt.clock)
    memberships = repo.of_person(person_id)
    state = repo.state(person_id)
    statics = [m for m in memberships if m.kind == "static"]
    stored = {m.group_id: m for m in memberships}
    known = {g: m.reason for g, m in stored.items() if m.kind == "rule"}
    effective = book.effective(person, statics, now, tz, known)

    upserts, deletes = [], []
    for group_id, reason in effective.items():
        old = stored.get(group_id)
        if old is None or (old.kind == "rule" and old.reason != reason):
            upserts.append(Membership(group_id=group_id, person_id=person_id, kind="rule", reason=reason,
                                      since=old.since if old else now, clauses=[]))
    for group_id, membership in stored.items():
        ended = membership.kind == "static" and membership.end is not None and membership.end <= now
        gone = group_id not in book.groups or (membership.kind == "rule" and group_id not in effective)
        if ended or gone:
            deletes.append(group_id)

    previous = set(state.groups)
    added = sorted(effective.keys() - previous)
    removed = sorted(previous - effective.keys())
    reasons_before = {m.group_id: m.reason for m in memberships}
    change = GroupChange(
        person_id,
        added=[{"group_id": g, "reason": effective[g]} for g in added],
        removed=[{"group_id": g, "reason": reasons_before.get(g, "no longer a member")} for g in removed],
        groups=sorted(effective),
        next_change=next((b for b in boundaries(person, statics, now, tz)), None),
        cause=cause,
    )
    if not (upserts or deletes or change.changed) and state.etag and state.next_change == change.next_change:
        return change
    audits = [
        audit_entity(person_partition(person_id), now, actor, f"membership.{verb}", cause,
                     {"group_id": item["group_id"], "reason": item["reason"]}, n)
        for n, (verb, item) in enumerate([("joined", a) for a in change.added] + [("left", r) for r in change.removed])
    ]
    new_state = PersonState(sorted(effective), change.next_change, now, state.etag)
    repo.commit(person_id, upserts, deletes, new_state, audits)
    due = DueIndex(rt.store)
    if state.next_change and state.next_change != change.next_change:
        due.remove(person_id, state.next_change)
    if change.next_change and change.next_change != state.next_change:
        due.add(person_id, change.next_change)
        _schedule(rt, person_id, change.next_change, scheduled=True)
    return change


def _schedule(rt: Runtime, person_id: str, at: datetime, scheduled: bool) -> None:
    rt.bus.publish(
        rt.settings.queue("person-changed"),
        PersonRef(person_id=person_id, cause=f"dated change at {at.isoformat()}").model_dump_json(),
        message_id=bus_id(f"dated:{person_id}:{at.isoformat()}" + ("" if scheduled else ":sweep")),
        session_id=person_id,
        scheduled_at=at if scheduled else None,
    )


def _person(rt: Runtime, person_id: str) -> Person:
    stored = PersonRepository(rt.store).get(person_id)
    if stored is None:
        raise PersonNotFound(f"no person with id {person_id!r}")
    return stored.person
