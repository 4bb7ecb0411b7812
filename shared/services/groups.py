"""Group administration: definitions, static members, previews, re-evaluation after a change."""

from __future__ import annotations

import uuid

from shared.bus import bus_id
from shared.errors import Conflict, FieldError, InvalidInput, NotAllowed, NotFound, PersonNotFound
from shared.models.base import moment_end, moment_start
from shared.models.group import SUSPEND_IMMEDIATE, Group, GroupIn, MemberIn, Membership
from shared.models.messages import PersonRef, ReevaluationRef
from shared.models.role import Role
from shared.rules import PersonView, Rule, RuleError, parse
from shared.runtime import Runtime
from shared.services import consequences
from shared.services.consequences import PolicyBook
from shared.services.membership import GroupChange, evaluate_person
from shared.services.paging import Page
from shared.services.relay import committed_with, message_id, publish
from shared.services.rulebook import layer_depths, rulebook
from shared.store.audit import audit_entity
from shared.store.groups import GROUPS, GroupRepository, MembershipRepository
from shared.store.jobs import JobRepository
from shared.store.outbox import Outgoing
from shared.store.persons import PersonRepository
from shared.store.port import EntityExists, ETagMismatch

PREVIEW_LIST = 100


def get_group(rt: Runtime, group_id: str) -> Group:
    rulebook(rt.store, rt.clock)  # the built-in group exists from the first read
    found = GroupRepository(rt.store).get(group_id)
    if found is None:
        raise NotFound(f"no group {group_id!r}")
    return found[0]


def list_groups(rt: Runtime) -> list[Group]:
    return sorted(rulebook(rt.store, rt.clock).groups.values(), key=lambda g: g.id)


def check_rule(rt: Runtime, group_id: str | None, text: str) -> Rule:
    """Parse and check a rule as it would be saved for `group_id` (422 with the position)."""
    try:
        rule = parse(text)
    except RuleError as error:
        raise InvalidInput(
            f"rule: line {error.line}, column {error.column}: {error.message}",
            [FieldError("rule", f"line {error.line}, column {error.column}: {error.message}")],
        ) from None
    book = rulebook(rt.store, rt.clock)
    unknown = sorted(g for g in rule.groups() if g not in book.groups and g != group_id)
    if unknown:
        raise InvalidInput(f"rule: memberOf names unknown groups: {', '.join(unknown)}",
                           [FieldError("rule", f"unknown groups: {', '.join(unknown)}")])
    rules = dict(book.rules)
    if group_id is not None:
        rules[group_id] = rule
    try:
        layer_depths(rules)
    except ValueError as cycle:
        raise InvalidInput(f"rule: {cycle}; composite groups may not refer back to themselves",
                           [FieldError("rule", str(cycle))]) from None
    return rule


def create_group(rt: Runtime, data: GroupIn, actor: str) -> Group:
    if data.id is None:
        raise InvalidInput("id is required", [FieldError("id", "required")])
    group = _validated(rt, data, data.id, version=1)
    audit = audit_entity("groups", rt.clock.now(), actor, "group.created", f"created {group.id}",
                         {"group_id": group.id, "rule": group.rule})
    fan_out = [_reevaluation(group.id, f"group {group.id} created")] if group.kind == "dynamic" else []
    try:
        committed_with(rt, "groups", GROUPS, fan_out,
                       lambda outbox: GroupRepository(rt.store).write(group, None, audit, create=True, outbox=outbox))
    except EntityExists:
        raise Conflict(f"group {group.id!r} exists already") from None
    _started(rt, fan_out)
    return group


def update_group(rt: Runtime, group_id: str, data: GroupIn, actor: str) -> Group:
    if data.id not in (None, group_id):
        raise InvalidInput("id in the body differs from the path", [FieldError("id", "must match the path")])
    current = _existing(rt, group_id)
    _refuse_builtin(current[0])
    group = _validated(rt, data, group_id, version=current[0].version + 1)
    audit = audit_entity("groups", rt.clock.now(), actor, "group.updated", f"updated {group_id}",
                         {"group_id": group_id, "rule": group.rule, "previous_rule": current[0].rule})
    changed = (group.rule, group.kind) != (current[0].rule, current[0].kind)
    fan_out = [_reevaluation(group_id, f"rule of {group_id} changed (version {group.version})")] if changed else []
    try:
        committed_with(rt, "groups", GROUPS, fan_out,
                       lambda outbox: GroupRepository(rt.store).write(group, current[1], audit, outbox=outbox))
    except ETagMismatch:
        raise Conflict(f"group {group_id!r} changed meanwhile; read it again") from None
    _started(rt, fan_out)
    return group


def delete_group(rt: Runtime, group_id: str, actor: str) -> None:
    group, etag = _existing(rt, group_id)
    _refuse_builtin(group)
    dependants = sorted(g for g, rule in rulebook(rt.store, rt.clock).rules.items() if group_id in rule.groups())
    if dependants:
        raise Conflict(f"groups {', '.join(dependants)} refer to {group_id} through memberOf")
    audit = audit_entity("groups", rt.clock.now(), actor, "group.deleted", f"deleted {group_id}", {"group_id": group_id})
    GroupRepository(rt.store).delete(group_id, etag, audit)
    for person_id in MembershipRepository(rt.store).mirrored_person_ids(group_id):
        _announce(rt, person_id, f"group {group_id} deleted", f"deleted:{group_id}")


def add_member(rt: Runtime, group_id: str, data: MemberIn, actor: str, roles) -> GroupChange:
    """Declare a static membership and evaluate the person now; the caller provisions
    (`chain.after_group_change`), so no `group-update` is announced."""
    group = get_group(rt, group_id)
    _guard_members(group, roles)
    if PersonRepository(rt.store).get(data.person_id) is None:
        raise PersonNotFound(f"no person with id {data.person_id!r}")
    tz, now = rt.settings.tz, rt.clock.now()
    membership = Membership(
        group_id=group_id, person_id=data.person_id, kind="static", reason=f"added by {actor}: {data.reason}",
        since=now, added_by=actor,
        start=moment_start(data.start, tz) if data.start else None,
        end=moment_end(data.end, tz) if data.end else None,
    )
    audit = audit_entity(f"person:{data.person_id}", now, actor, "membership.static_added", data.reason,
                         {"group_id": group_id, "start": membership.start, "end": membership.end})
    MembershipRepository(rt.store).put_static(membership, audit)
    return evaluate_person(rt, data.person_id, f"{actor} added to {group_id}: {data.reason}", actor, announce=False)


def remove_member(rt: Runtime, group_id: str, person_id: str, reason: str, actor: str, roles) -> GroupChange:
    group = get_group(rt, group_id)
    _guard_members(group, roles)
    repo = MembershipRepository(rt.store)
    found = repo.get(person_id, group_id)
    if found is None or found[0].kind != "static":
        raise NotFound(f"{person_id!r} is not a static member of {group_id!r}")
    audit = audit_entity(f"person:{person_id}", rt.clock.now(), actor, "membership.static_removed", reason,
                         {"group_id": group_id})
    repo.remove_static(person_id, group_id, audit)
    return evaluate_person(rt, person_id, f"{actor} removed from {group_id}: {reason}", actor, announce=False)


def group_page(rt: Runtime, page: Page) -> tuple[list[Group], str | None]:
    """One page of the groups by id. The rulebook already holds every group in memory, so this
    slices that (bounded, id-ordered) list; the cursor is the id of the page's first group."""
    return page.take((g.id, g) for g in list_groups(rt) if g.id >= (page.cursor or ""))


def member_page(rt: Runtime, group_id: str, page: Page) -> tuple[list[Membership], str | None]:
    """One page of the group's members, read from its partition page by page (person id order)."""
    get_group(rt, group_id)
    return page.take(MembershipRepository(rt.store).of_group_from(group_id, page.cursor, page.limit + 1))


def members(rt: Runtime, group_id: str, limit: int = 1000) -> list[Membership]:
    get_group(rt, group_id)
    return MembershipRepository(rt.store).of_group(group_id, limit)


def repair_group(rt: Runtime, group_id: str) -> dict:
    """Make the group's member list agree with the persons' own memberships (the truth)."""
    get_group(rt, group_id)
    repo = MembershipRepository(rt.store)
    checked = set(PersonRepository(rt.store).all_ids()) | set(repo.mirrored_person_ids(group_id))
    fixes = sum(repo.repair(person_id, [group_id]) for person_id in sorted(checked))
    return {"group_id": group_id, "checked": len(checked), "fixed": fixes}


def preview(rt: Runtime, group_id: str, text: str) -> dict:
    """Who would join and who would leave if the rule were saved now (nothing is saved), and
    the provisioning orders that would follow: per person, and counted per target and action.
    Reads every person: for very large registries prefer saving and watching the progress."""
    get_group(rt, group_id)
    rule = check_rule(rt, group_id, text)
    now, tz = rt.clock.now(), rt.settings.tz
    persons, memberships = PersonRepository(rt.store), MembershipRepository(rt.store)
    join, leave, evaluated, book, following = [], [], 0, PolicyBook.load(rt), []
    for person_id in persons.all_ids():
        stored = persons.get(person_id)
        if stored is None:
            continue
        evaluated += 1
        current = set(memberships.state(person_id).groups)
        view = PersonView.of(stored.person, now, tz, frozenset(current - {group_id}))
        would = rule.evaluate(view)
        entry = {"person_id": person_id, "display_name": stored.person.names.display}
        if would != (group_id in current):
            entry["orders"] = consequences.for_person(rt, person_id, current ^ {group_id}, book)
            following += entry["orders"]
            (join if would else leave).append({**entry, "reason": rule.explain(view).summary()} if would else entry)
    return {
        "group_id": group_id, "rule": text, "at": now, "evaluated": evaluated,
        "join_count": len(join), "leave_count": len(leave),
        "join": join[:PREVIEW_LIST], "leave": leave[:PREVIEW_LIST],
        "orders": consequences.per_target(following),
    }


EVERYONE = "*"  # the bucket of a re-evaluation's first message: fan out to every bucket


def _reevaluation(group_id: str, cause: str) -> Outgoing:
    """The message that starts re-evaluating everyone, stored with the group's change."""
    ref = ReevaluationRef(group_id=group_id, job_id=uuid.uuid4().hex[:12], bucket=EVERYONE, cause=cause)
    return Outgoing("group-reevaluation", ref.model_dump_json(), message_id("reevaluation", ref.job_id, EVERYONE))


def _started(rt: Runtime, fan_out: list[Outgoing]) -> None:
    """The job's progress row at once (its first message writes it too, if this is lost)."""
    for message in fan_out:
        ref = ReevaluationRef.model_validate_json(message.body)
        JobRepository(rt.store).start(ref.group_id, ref.job_id, ref.cause, rt.clock.now())


def start_reevaluation(rt: Runtime, group_id: str, job_id: str, cause: str) -> int:
    """Everyone re-evaluated in batches through the queue, one message per directory bucket.
    Run again (a redelivery), it publishes the same ids: the bus drops the copies."""
    jobs = JobRepository(rt.store)
    if (jobs.progress(group_id) or {}).get("job_id") != job_id:
        jobs.start(group_id, job_id, cause, rt.clock.now())
    for bucket in range(256):
        ref = ReevaluationRef(group_id=group_id, job_id=job_id, bucket=f"{bucket:02x}", cause=cause)
        publish(rt, Outgoing("group-reevaluation", ref.model_dump_json(),
                             message_id("reevaluation", job_id, ref.bucket)))
    return 256


def reevaluate_bucket(rt: Runtime, group_id: str, job_id: str, bucket: str, cause: str) -> int:
    """One batch of a re-evaluation (or, for bucket `*`, the fan-out to all 256)."""
    if bucket == EVERYONE:
        return start_reevaluation(rt, group_id, job_id, cause)
    persons = [e.row_key for e in PersonRepository(rt.store).directory.query(bucket)]
    for person_id in persons:
        evaluate_person(rt, person_id, cause)
    JobRepository(rt.store).finish_bucket(group_id, job_id, bucket, len(persons), rt.clock.now())
    return len(persons)


def reevaluation_progress(rt: Runtime, group_id: str) -> dict | None:
    return JobRepository(rt.store).progress(group_id)


JOBS_SHOWN = 20  # re-evaluations listed by the operations view
JOB_GROUPS = 500  # groups whose latest re-evaluation it reads (each: one row and ≤ 256 batch rows)


def reevaluations(rt: Runtime, shown: int = JOBS_SHOWN, groups_read: int = JOB_GROUPS) -> list[dict]:
    """The latest re-evaluation of each group that had one (of the first `groups_read`
    groups), with its progress: unfinished ones first, then the most recently started;
    at most `shown`. Groups are the institution's rules, a few hundred at most, not people."""
    jobs = JobRepository(rt.store)
    found = []
    for group in GroupRepository(rt.store).all()[:groups_read]:
        progress = jobs.progress(group.id)
        if progress is not None:
            found.append({"group_id": group.id, "name": group.name, **progress})
    found.sort(key=lambda job: str(job["started_at"]), reverse=True)
    found.sort(key=lambda job: job["finished_at"] is not None)
    return found[:shown]


def _validated(rt: Runtime, data: GroupIn, group_id: str, version: int) -> Group:
    if data.kind == "dynamic":
        if not data.rule:
            raise InvalidInput("a dynamic group needs a rule", [FieldError("rule", "required for kind dynamic")])
        check_rule(rt, group_id, data.rule)
    elif data.rule:
        raise InvalidInput("a static group has no rule", [FieldError("rule", "only for kind dynamic")])
    fields = data.model_dump(exclude={"id"})
    return Group(id=group_id, version=version, updated_at=rt.clock.now(), **fields)


def _existing(rt: Runtime, group_id: str) -> tuple[Group, str]:
    rulebook(rt.store, rt.clock)
    found = GroupRepository(rt.store).get(group_id)
    if found is None:
        raise NotFound(f"no group {group_id!r}")
    return found


def _refuse_builtin(group: Group) -> None:
    if group.id == SUSPEND_IMMEDIATE:
        raise NotAllowed("suspend-immediate is built in: it cannot be changed or deleted")


def _guard_members(group: Group, roles) -> None:
    if group.kind == "dynamic":
        raise Conflict(f"{group.id} is dynamic: its members come from its rule")
    needed = Role.suspend_manage if group.policy == "suspend" else Role.groups_manage
    if needed not in roles and Role.admin not in roles:
        raise NotAllowed(f"changing the members of {group.id} needs the role {needed}")


def _announce(rt: Runtime, person_id: str, cause: str, key: str) -> None:
    rt.bus.publish(rt.settings.queue("person-changed"), PersonRef(person_id=person_id, cause=cause).model_dump_json(),
                   message_id=bus_id(f"{key}:{person_id}"), session_id=person_id)


