"""The console pages that spare staff the API (docs/console.md): suspension with a reason,
groups (create, delete, static members with dates), targets and their policies, the
reconciliation upload, and the dead-letter list. Each route reads its form, calls one
service, and redirects back with a message (or draws the page again with the errors).
"""

from __future__ import annotations

from urllib.parse import quote

import azure.functions as func
from pydantic import ValidationError

from functions.console_web import BASE, Visit, field_errors, form_model, page
from functions.http import invalid
from shared.console import views
from shared.errors import InvalidInput, MalformedBody, RosterError
from shared.models.group import SUSPEND_IMMEDIATE, GroupIn, MemberIn
from shared.models.provisioning import Policy, Target
from shared.models.role import Role
from shared.services import groups, operations, reconciliation, targets
from shared.services.chain import after_group_change

bp = func.Blueprint()
SUSPEND = Role.suspend_manage
GROUPS = Role.groups_manage
GROUPS_READ = (GROUPS, Role.persons_read)
OPERATE = Role.provisioning_operate
TARGETS_READ = OPERATE  # target settings are for operators (docs/security.md)
ADMIN = Role.admin


# -- suspension ---------------------------------------------------------------------------


@page(bp, "persons/{id}/suspend", name="console_person_suspend", methods=("POST",), role=SUSPEND,
      statuses=(303, 404), summary="Suspend a person now, with the reason (every account gets a suspend order)")
def suspend(visit: Visit) -> func.HttpResponse:
    def add(person_id: str, reason: str):
        member = form_model(MemberIn, {"person_id": person_id, "reason": reason})
        return groups.add_member(visit.rt, SUSPEND_IMMEDIATE, member, visit.actor, visit.principal.roles)

    return _suspension(visit, add, "Say why the person is suspended.", "Suspended", "suspend order")


@page(bp, "persons/{id}/lift", name="console_person_lift", methods=("POST",), role=SUSPEND,
      statuses=(303, 404), summary="Lift a person's suspension, with the reason (still-wanted accounts are restored)")
def lift(visit: Visit) -> func.HttpResponse:
    def remove(person_id: str, reason: str):
        return groups.remove_member(visit.rt, SUSPEND_IMMEDIATE, person_id, reason, visit.actor, visit.principal.roles)

    return _suspension(visit, remove, "Say why the suspension is lifted.", "Suspension lifted", "order")


def _suspension(visit: Visit, change, missing: str, done: str, noun: str) -> func.HttpResponse:
    """Change the person's `suspend-immediate` membership with the reason, then provision now."""
    back = _person_url(visit.route["id"])
    reason = visit.field("reason", max_length=1000).strip()
    if not reason:
        return visit.redirect(back, missing, error=True)
    try:
        made = after_group_change(visit.rt, change(visit.route["id"], reason))["orders"]
    except InvalidInput as error:
        return visit.redirect(back, f"Not changed: {error.detail}.", error=True)
    return visit.redirect(back, f"{done}: {_count(made, noun)} issued. Reason: {reason}")


# -- groups -------------------------------------------------------------------------------


@page(bp, "groups", name="console_group_create", methods=("POST",), role=GROUPS, statuses=(303, 409, 422),
      summary="Create a group (static, or dynamic with a rule)")
def create_group(visit: Visit) -> func.HttpResponse:
    values = {name: visit.field(name, max_length=200_000 if name == "rule" else 2000).strip()
              for name in ("id", "name", "description", "kind", "rule")}
    body = {**values, "rule": values["rule"].replace("\r\n", "\n") or None, "kind": values["kind"] or "static"}
    try:
        group = groups.create_group(visit.rt, form_model(GroupIn, body), visit.actor)
    except RosterError as error:
        status = error.status if error.status in (409, 422) else 422
        return visit.html("groups.html", status, section="groups", errors=field_errors(error), values=values,
                          **views.groups_page(visit.rt))
    return visit.redirect(f"{BASE}/groups/{quote(group.id)}", f"Created: {group.name}.")


@page(bp, "groups/{id}/delete", name="console_group_delete", methods=("POST",), role=GROUPS,
      statuses=(303, 404), summary="Delete a group; its members are re-evaluated")
def delete_group(visit: Visit) -> func.HttpResponse:
    group_id = visit.route["id"]
    if visit.field("confirm") != group_id:
        return visit.redirect(_group_url(group_id), f"Type {group_id} to confirm the deletion.", error=True)
    try:
        groups.delete_group(visit.rt, group_id, visit.actor)
    except RosterError as error:
        return visit.redirect(_group_url(group_id), f"Not deleted: {error.detail}.", error=True)
    return visit.redirect(f"{BASE}/groups", f"Deleted: {group_id}. Its members are being re-evaluated.")


@page(bp, "groups/{id}/members", name="console_group_member_add", methods=("POST",), role=(GROUPS, SUSPEND),
      statuses=(303, 404), summary="Add a static member with optional start and end dates and a reason")
def add_member(visit: Visit) -> func.HttpResponse:
    group_id = visit.route["id"]
    body = {name: visit.field(name, max_length=1000).strip() for name in ("person_id", "start", "end", "reason")}
    body = {k: v for k, v in body.items() if v}
    try:
        body["person_id"] = views.person_by_id_or_email(visit.rt, body.get("person_id", ""))
        change = groups.add_member(visit.rt, group_id, form_model(MemberIn, body), visit.actor, visit.principal.roles)
    except RosterError as error:
        return visit.redirect(_group_url(group_id), f"Not added: {error.detail}.", error=True)
    made = after_group_change(visit.rt, change)["orders"]
    return visit.redirect(_group_url(group_id), f"Added {views.person_name(visit.rt, change.person_id)}: "
                                                f"{_count(made, 'provisioning order')} issued.")


@page(bp, "groups/{id}/members/{person_id}/remove", name="console_group_member_remove", methods=("POST",),
      role=(GROUPS, SUSPEND), statuses=(303, 404), summary="Remove a static member, with the reason")
def remove_member(visit: Visit) -> func.HttpResponse:
    group_id, person_id = visit.route["id"], visit.route["person_id"]
    reason = visit.field("reason", max_length=1000).strip() or "removed in the console"
    try:
        change = groups.remove_member(visit.rt, group_id, person_id, reason, visit.actor, visit.principal.roles)
    except RosterError as error:
        return visit.redirect(_group_url(group_id), f"Not removed: {error.detail}.", error=True)
    made = after_group_change(visit.rt, change)["orders"]
    return visit.redirect(_group_url(group_id), f"Removed {views.person_name(visit.rt, person_id)}: "
                                                f"{_count(made, 'provisioning order')} issued.")


# -- targets and policies -----------------------------------------------------------------


@page(bp, "targets", name="console_targets", methods=("GET",), role=TARGETS_READ,
      summary="Targets: their connector, removal, approval and account template; policies per target")
def list_targets(visit: Visit) -> func.HttpResponse:
    return visit.html("targets.html", section="targets", errors={}, values={}, **views.targets_page(visit.rt))


@page(bp, "targets", name="console_target_create", methods=("POST",), role=ADMIN, statuses=(303, 409, 422),
      summary="Register a target")
def create_target(visit: Visit) -> func.HttpResponse:
    values = views.target_form(visit.form)
    try:
        target = targets.create_target(visit.rt, form_model(Target, views.target_body(values)), visit.actor)
    except RosterError as error:
        return visit.html("targets.html", error.status, section="targets", errors=field_errors(error), values=values,
                          **views.targets_page(visit.rt))
    return visit.redirect(_target_url(target.id), f"Registered: {target.name}.")


@page(bp, "targets/{id}", name="console_target", methods=("GET",), role=TARGETS_READ, statuses=(200, 404),
      summary="A target: its settings, account template, policies and the reconciliation upload")
def target_page(visit: Visit) -> func.HttpResponse:
    return _target(visit)


@page(bp, "targets/{id}", name="console_target_save", methods=("POST",), role=ADMIN, statuses=(303, 404, 422),
      summary="Change a target (settings not shown are kept; secrets are never displayed)")
def save_target(visit: Visit) -> func.HttpResponse:
    target_id, values = visit.route["id"], views.target_form(visit.form)
    try:
        body = views.target_body(values, targets.get_target(visit.rt, target_id))
        target = targets.update_target(visit.rt, target_id, body, visit.actor)
    except (InvalidInput, MalformedBody) as error:
        return _target(visit, 422, errors=field_errors(error), values=values)
    except ValidationError as error:
        return _target(visit, 422, errors=field_errors(invalid(error)), values=values)
    return visit.redirect(_target_url(target.id), f"Saved: {target.name}.")


@page(bp, "targets/{id}/policies", name="console_policy_add", methods=("POST",), role=ADMIN,
      statuses=(303, 404), summary="Grant an entitlement in the target to a group's members")
def add_policy(visit: Visit) -> func.HttpResponse:
    return _policy(visit, targets.add_policy, "Granted")


@page(bp, "targets/{id}/policies/remove", name="console_policy_remove", methods=("POST",), role=ADMIN,
      statuses=(303, 404), summary="Withdraw a policy; its members lose what no other group grants")
def remove_policy(visit: Visit) -> func.HttpResponse:
    return _policy(visit, targets.remove_policy, "Withdrawn")


@page(bp, "targets/{id}/reconcile", name="console_target_reconcile", methods=("POST",), role=OPERATE,
      statuses=(200, 404, 422), summary="Upload the target's accounts (CSV): Verified orders and drift")
def reconcile(visit: Visit) -> func.HttpResponse:
    target = targets.get_target(visit.rt, visit.route["id"])
    data = visit.files.get("csv") or visit.field("text", max_length=1_000_000).encode()
    if not data.strip():
        return _target(visit, 422, errors={"csv": "Choose the CSV file the target exported."})
    try:
        accounts = reconciliation.parse_accounts(data, "text/csv")
    except MalformedBody as error:
        return _target(visit, 422, errors={"csv": error.detail})
    create = visit.field("create_orders") == "true"
    report = reconciliation.reconcile(visit.rt, target.id, accounts, visit.actor, create)
    return _target(visit, report=views.reconciliation_report(visit.rt, report, len(accounts)))


# -- dead letters -------------------------------------------------------------------------


@page(bp, "dead-letters", name="console_dead_letters", methods=("GET",), role=OPERATE,
      summary="Dead letters per queue: the bus's (with replay) and the messages a trigger refused as malformed")
def dead_letters(visit: Visit) -> func.HttpResponse:
    return visit.html("deadletters.html", section="dead-letters", view=operations.chain_view(visit.rt),
                      can_replay=visit.can(ADMIN))


@page(bp, "dead-letters/replay", name="console_dead_letter_replay", methods=("POST",), role=ADMIN,
      statuses=(303,), summary="Send a dead letter of the bus back to its queue (audited)")
def replay(visit: Visit) -> func.HttpResponse:
    back = f"{BASE}/dead-letters"
    queue, message_id = visit.field("queue", max_length=100), visit.field("message_id", max_length=128)
    try:
        done = operations.replay(visit.rt, queue, message_id, visit.actor)
    except RosterError as error:
        return visit.redirect(back, f"Not replayed: {error.detail}.", error=True)
    return visit.redirect(back, f"Replayed on {done['queue']}: the message is back in its queue.")


# -- helpers ------------------------------------------------------------------------------


def _target(visit: Visit, status: int = 200, *, errors: dict | None = None, values: dict | None = None,
            report: dict | None = None) -> func.HttpResponse:
    data = views.target_page(visit.rt, visit.route["id"])
    return visit.html("target.html", status, section="targets", errors=errors or {},
                      values=values or views.target_values(data["target"]), report=report,
                      can_admin=visit.can(ADMIN), can_operate=visit.can(OPERATE), **data)


def _policy(visit: Visit, change, done: str) -> func.HttpResponse:
    target_id = visit.route["id"]
    body = {"group_id": visit.field("group_id", max_length=63).strip(),
            "entitlement": visit.field("entitlement", max_length=200).strip() or "account"}
    try:
        policy = form_model(Policy, body)
        policy, announced = change(visit.rt, target_id, policy, visit.actor)
    except RosterError as error:
        return visit.redirect(_target_url(target_id), f"Not changed: {error.detail}.", error=True)
    return visit.redirect(_target_url(target_id), f"{done}: {policy.entitlement} for members of {policy.group_id}; "
                                                  f"{_count_of(announced, 'member')} being re-provisioned.")


def _count(orders: list, noun: str) -> str:
    return _count_of(len(orders), noun)


def _count_of(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _person_url(person_id: str) -> str:
    return f"{BASE}/persons/{quote(person_id)}"


def _group_url(group_id: str) -> str:
    return f"{BASE}/groups/{quote(group_id)}"


def _target_url(target_id: str) -> str:
    return f"{BASE}/targets/{quote(target_id)}"

