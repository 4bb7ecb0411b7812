"""What each console page shows, read through the services and repositories.

A page is a handful of reads: lists are cut at `LIST_LIMIT` rows (the page says so; the
worklist links to its next page, with the API's paging token), and nothing walks the whole registry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from shared.console.history import describe
from shared.errors import FieldError, InvalidInput, PersonNotFound
from shared.mail.outbox import OutboxMailer
from shared.models.group import Group
from shared.models.person import Affiliation, Person
from shared.models.provisioning import Order, OrderState, Target
from shared.models.request import FINAL, TRANSITIONS, Request, State
from shared.rules import RuleError, explain_error, parse
from shared.runtime import Runtime
from shared.services import groups, orders, paging, requests, targets
from shared.services.consequences import PolicyBook
from shared.services.eligibility import persons_with_email
from shared.services.membership import memberships_of, upcoming
from shared.services.notifications import requester_link
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


def worklist(rt: Runtime, target: str | None, state: OrderState, token: str | None = None) -> dict[str, Any]:
    """One page of the orders of one state (all targets or one), oldest first, with whose they
    are; `following` is the token of the next page (the API's paging: a bad token is a 400)."""
    asked = paging.page("orders", {"target": target, "state": state.value, "person": None},
                        str(LIST_LIMIT), token)
    shown, following = orders.order_page(rt, asked, target, state.value, None)
    return {
        "targets": TargetRepository(rt.store).all(),
        "orders": shown,
        "more": following is not None,
        "following": following,
        "names": display_names(rt, {o.person_id for o in shown}),
    }


def target_names(targets: list[Target]) -> dict[str, str]:
    return {t.id: t.name for t in targets}


def bulk_summary(rt: Runtime, results: list[dict], done: str) -> tuple[str, bool]:
    """A flash message for `orders.bulk` results, and whether any failed: the ones that
    failed are named by person and target, never by order id."""
    ok = [r for r in results if r["ok"]]
    failed = [r for r in results if not r["ok"]]
    message = f"{len(ok)} order{'s' if len(ok) != 1 else ''} {done}."
    if failed:
        found = {o.id: o for o in orders.orders_of(rt, [r["id"] for r in failed[:5]])}
        names = display_names(rt, {o.person_id for o in found.values()})
        reasons = "; ".join(
            f"{order_label(found[r['id']], names)} ({found[r['id']].action.value} in {found[r['id']].target_id}) "
            f"is {found[r['id']].state.value}" if r["id"] in found else "an order that does not exist"
            for r in failed[:5])
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
        "trail": [{**record, "words": describe(record, rt.settings.display_name)}
                  for record in list(reversed(RequestRepository(rt.store).trail(request.number)))[:TIMELINE_LIMIT]],
        "requester_link": requester_link(rt, request.number),
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


def order_label(order: Order, names: dict[str, str]) -> str:
    return names.get(order.person_id) or order.account or order.person_id


# -- groups (administration) --------------------------------------------------------------


def groups_page(rt: Runtime) -> dict[str, Any]:
    """Every group with the targets whose policies grant something to its members."""
    book = PolicyBook.load(rt)
    granted = {g: sorted({book.targets[t].name for t, _ in pairs if t in book.targets})
               for g, pairs in book.grants.items()}
    return {"groups": groups.list_groups(rt), "granted": granted}


def person_by_id_or_email(rt: Runtime, value: str) -> str:
    """A person id as typed, or the id of the one person holding that email address."""
    if "@" not in value:
        return value
    found = persons_with_email(rt, value)
    if len(found) != 1:
        why = "nobody has" if not found else f"{len(found)} persons have"
        raise InvalidInput(f"{why} the address {value}; give the person id",
                           [FieldError("person_id", f"{why} this address")])
    return found[0].id


def person_name(rt: Runtime, person_id: str) -> str:
    return display_names(rt, {person_id}).get(person_id, person_id)


# -- targets ------------------------------------------------------------------------------

TARGET_FIELDS = ("id", "name", "connector", "url", "on_remove", "approval", "max_percent", "min_size",
                 "login", "login_max_length", "attributes")


def targets_page(rt: Runtime) -> dict[str, Any]:
    found = targets.list_targets(rt)
    return {"targets": found, "policies": {t.id: targets.policies(rt, t.id) for t in found}}


def target_page(rt: Runtime, target_id: str) -> dict[str, Any]:
    target = targets.get_target(rt, target_id)
    return {"target": target, "policies": targets.policies(rt, target.id),
            "group_names": {g.id: g.name for g in groups.list_groups(rt)}, "shown_url": shown_url(target)}


def shown_url(target: Target) -> str | None:
    """The connector URL as the form may show it: scheme, host and path only — never a
    query string, user info or any other setting (they may carry secrets)."""
    url = target.settings.get("url")
    if not isinstance(url, str) or not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def target_values(target: Target) -> dict[str, str]:
    """The target as its form shows it (no secret: the URL field starts empty)."""
    template = target.account_template
    return {
        "id": target.id, "name": target.name, "connector": str(target.connector), "url": "",
        "on_remove": target.on_remove, "approval": target.approval,
        "max_percent": f"{target.threshold.max_percent:g}", "min_size": str(target.threshold.min_size),
        "login": template.login if template else "", "login_max_length": str(template.login_max_length) if template else "",
        "attributes": "\n".join(f"{k} = {v}" for k, v in (template.attributes if template else {}).items()),
    }  # fmt: skip


def target_form(form: dict[str, list[str]]) -> dict[str, str]:
    return {name: (form.get(name) or [""])[0].strip()[:20_000] for name in TARGET_FIELDS}


def target_body(values: dict[str, str], current: Target | None = None) -> dict[str, Any]:
    """The target model's fields from the form; settings are kept unless a new URL is given."""
    settings = dict(current.settings) if current else {}
    if values["url"]:
        settings["url"] = values["url"]
    body: dict[str, Any] = {
        "id": values["id"] or (current.id if current else ""), "name": values["name"],
        "connector": values["connector"] or "manual", "settings": settings,
        "on_remove": values["on_remove"] or "disable", "approval": values["approval"] or "none",
        "threshold": {"max_percent": values["max_percent"] or 10, "min_size": values["min_size"] or 10},
    }  # fmt: skip
    if values["login"] or values["attributes"]:
        body["account_template"] = {"login": values["login"] or "{given}.{family}",
                                    "attributes": attribute_lines(values["attributes"]),
                                    **({"login_max_length": values["login_max_length"]}
                                       if values["login_max_length"] else {})}
    return body


def attribute_lines(text: str) -> dict[str, str]:
    """`name = template` per line; a line without `=` is refused naming the field."""
    found = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.strip():
            raise InvalidInput(f"attributes line {n}: write name = template",
                               [FieldError("attributes", f"line {n}: write name = template")])
        found[name.strip()] = value.strip()
    return found


def reconciliation_report(rt: Runtime, report: dict, rows: int) -> dict[str, Any]:
    """The reconciliation result with names instead of ids."""
    drift = report["drift"]
    ids = {d["person_id"] for d in drift["unexpected"] + drift["missing"]}
    return {**report, "rows": rows, "names": display_names(rt, ids)}
