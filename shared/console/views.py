"""What each console page shows, read through the services and repositories.

A page is a handful of reads: lists are cut at `LIST_LIMIT` rows (the page says so), and
nothing walks the whole registry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.errors import InvalidInput, PersonNotFound
from shared.mail.outbox import OutboxMailer
from shared.models.group import Group
from shared.models.person import Affiliation, Person
from shared.models.provisioning import OrderState, Target
from shared.models.request import FINAL, TRANSITIONS, Request, State
from shared.rules import RuleError, explain_error, parse
from shared.runtime import Runtime
from shared.services import groups, orders, requests
from shared.services.membership import memberships_of, upcoming
from shared.services.provisioning import suspended_by
from shared.store.audit import audit_trail
from shared.store.groups import MembershipRepository, person_partition
from shared.store.orders import OrderRepository
from shared.store.persons import PersonRepository
from shared.store.requests import RequestRepository
from shared.store.targets import TargetRepository

LIST_LIMIT = 200
BOARD_LIMIT = 30
FINAL_LIMIT = 10
TIMELINE_LIMIT = 200
OUTBOX_SCAN = 10_000


# -- persons ------------------------------------------------------------------------------


@dataclass
class AffiliationsByTime:
    past: list[Affiliation] = field(default_factory=list)
    current: list[Affiliation] = field(default_factory=list)
    future: list[Affiliation] = field(default_factory=list)


def affiliations_by_time(person: Person, now: datetime, tz: ZoneInfo) -> AffiliationsByTime:
    split = AffiliationsByTime()
    for affiliation in sorted(person.affiliations, key=lambda a: a.starts_at(tz), reverse=True):
        ends = affiliation.ends_at(tz)
        if affiliation.starts_at(tz) > now:
            split.future.append(affiliation)
        elif ends is not None and ends <= now:
            split.past.append(affiliation)
        else:
            split.current.append(affiliation)
    return split


def person_page(rt: Runtime, person_id: str) -> dict[str, Any]:
    """Affiliations, groups with reasons, access with order states, what changes when, the trail."""
    stored = PersonRepository(rt.store).get(person_id)
    if stored is None:
        raise PersonNotFound(f"no person with id {person_id!r}")
    person, now, tz = stored.person, rt.clock.now(), rt.settings.tz
    names = {g.id: g.name for g in groups.list_groups(rt)}
    memberships = sorted(memberships_of(rt, person_id), key=lambda m: (not m["active"], m["group_id"]))
    mine = OrderRepository(rt.store).of_person(person_id)
    return {
        "person": person,
        "active": person.active_at(now, tz),
        "affiliations": affiliations_by_time(person, now, tz),
        "memberships": memberships,
        "group_names": names,
        "suspended_by": suspended_by(rt, person_id),
        "access": orders.access(rt, person_id),
        "orders": sorted(mine, key=lambda o: o.created_at, reverse=True)[:LIST_LIMIT],
        "orders_total": len(mine),
        "upcoming": upcoming(rt, person_id),
        "timeline": timeline(rt, person_id),
    }


def timeline(rt: Runtime, person_id: str, limit: int = TIMELINE_LIMIT) -> list[dict]:
    """The person's audit records, newest first: registration, memberships and orders."""
    records = PersonRepository(rt.store).trail(person_id)
    records += audit_trail(MembershipRepository(rt.store).table, person_partition(person_id))
    records += audit_trail(OrderRepository(rt.store).table, f"person:{person_id}")
    records.sort(key=lambda r: r["at"])
    return records[::-1][:limit]  # newest first; records of one instant in reverse of writing


def display_names(rt: Runtime, person_ids: set[str]) -> dict[str, str]:
    """Display name per registered person id (ids of accounts a request named are absent)."""
    repo = PersonRepository(rt.store)
    return {p.id: p.names.display for p in repo.get_many(sorted(i for i in person_ids if not i.startswith("ext-")))}


# -- provisioning -------------------------------------------------------------------------


def worklist(rt: Runtime, target: str | None, state: OrderState) -> dict[str, Any]:
    """Orders of one state (all targets or one), oldest first, with whose they are."""
    found = orders.list_orders(rt, target, state.value, None, limit=LIST_LIMIT + 1)
    shown = found[:LIST_LIMIT]
    return {
        "targets": TargetRepository(rt.store).all(),
        "orders": shown,
        "more": len(found) > LIST_LIMIT,
        "names": display_names(rt, {o.person_id for o in shown}),
    }


def target_names(targets: list[Target]) -> dict[str, str]:
    return {t.id: t.name for t in targets}


def bulk_summary(results: list[dict], done: str) -> tuple[str, bool]:
    """A flash message for `orders.bulk` results, and whether any failed."""
    ok = [r for r in results if r["ok"]]
    failed = [r for r in results if not r["ok"]]
    message = f"{len(ok)} order{'s' if len(ok) != 1 else ''} {done}."
    if failed:
        reasons = "; ".join(f"{r['id']}: {r['detail']}" for r in failed[:5])
        message += f" {len(failed)} not: {reasons}" + (" …" if len(failed) > 5 else "")
    return message, bool(failed)


# -- requests -----------------------------------------------------------------------------


def board(rt: Runtime) -> list[dict[str, Any]]:
    """One column per state, in number order: at most BOARD_LIMIT open requests per state,
    FINAL_LIMIT closed or rejected ones (each is a read)."""
    columns = []
    for state in State:
        limit = FINAL_LIMIT if state in FINAL else BOARD_LIMIT
        found, following = requests.listing(rt, state=state, owner=None, start=None, limit=limit)
        columns.append({"state": state, "requests": found, "more": following is not None})
    return columns


def request_page(rt: Runtime, number: str) -> dict[str, Any]:
    request = requests.get(rt, number)
    order_ids = [i for t in request.tasks for i in t.order_ids]
    return {
        "request": request,
        "next_states": TRANSITIONS[request.state],
        "final": request.state in FINAL,
        "can_create_orders": request.category.value in {c.value for c in requests.ORDER_CATEGORIES}
        and bool(request.accounts),
        "order_states": orders.order_states(rt, order_ids) if order_ids else {},
        "emails": emails_about(rt, request),
        "trail": list(reversed(RequestRepository(rt.store).trail(request.number)))[:TIMELINE_LIMIT],
    }


def emails_about(rt: Runtime, request: Request) -> dict[str, Any]:
    """The emails sent about the request, from the outbox (None when the mailer is another)."""
    mailer = rt.mail
    if not isinstance(mailer, OutboxMailer):
        return {"available": False, "items": [], "scanned_all": True}
    prefix = f"{request.number}:"
    items, scanned = [], 0
    for email in mailer.sent(limit=OUTBOX_SCAN):
        scanned += 1
        if str(email.get("subject", "")).startswith(prefix):
            items.append(email)
    items.sort(key=lambda e: (e.get("sent_at", ""), e.get("subject", "")))  # one instant: by subject
    return {"available": True, "items": items, "scanned_all": scanned < OUTBOX_SCAN}


# -- groups -------------------------------------------------------------------------------


def group_page(rt: Runtime, group_id: str) -> dict[str, Any]:
    group = groups.get_group(rt, group_id)
    members = groups.members(rt, group_id, limit=LIST_LIMIT + 1)
    return {
        "group": group,
        "members": members[:LIST_LIMIT],
        "more_members": len(members) > LIST_LIMIT,
        "names": display_names(rt, {m.person_id for m in members[:LIST_LIMIT]}),
        "progress": groups.reevaluation_progress(rt, group_id),
    }


def rule_problem(text: str, error: InvalidInput) -> dict[str, Any]:
    """Where a refused rule is wrong: line, column and the line with a caret under the column
    for a syntax error; the service's message alone for the others (unknown group, cycle)."""
    try:
        parse(text)
    except RuleError as syntax:
        return {"message": syntax.message, "line": syntax.line, "column": syntax.column,
                "caret": explain_error(text, syntax).split("\n", 1)[1]}
    return {"message": error.detail.removeprefix("rule: "), "line": None, "column": None, "caret": None}


def rule_fingerprint(text: str) -> str:
    """What the editor carries from a preview to the save: the rule that was previewed."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def changed_group(group: Group, rule: str) -> dict[str, Any]:
    """The group as `update_group` takes it, with the new rule."""
    return {"name": group.name, "description": group.description, "kind": group.kind, "rule": rule,
            "policy": group.policy}
