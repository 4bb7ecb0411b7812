"""The staff console (docs/architecture.md §6): the pages the identity team and the desk work in,
under /api/console/. Each route reads its form or query, calls one service (or one view
of `shared.console.views`), and draws a page or redirects back with a message.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote, urlencode

import azure.functions as func

from functions.auth import key_digest, principal_for_key
from functions.console_web import (
    BASE,
    SESSION_COOKIE,
    Visit,
    console_path,
    cookie,
    field_errors,
    form_model,
    page,
    read_cookie,
    roles_of,
)
from shared.console import views
from shared.console.render import stylesheet
from shared.errors import Conflict, FieldError, InvalidInput, NotAuthenticated, RosterError
from shared.models.group import SUSPEND_IMMEDIATE, Group, GroupIn
from shared.models.provisioning import OrderState
from shared.models.request import CommentIn, RequestChange, TaskIn
from shared.models.role import Role
from shared.services import groups, orders, requests, search, sessions

bp = func.Blueprint()
PEOPLE = (Role.persons_read, Role.suspend_manage)  # officers find the person they suspend
OPERATE = Role.provisioning_operate
DESK = Role.requests_manage
GROUPS = Role.groups_manage
TABS = (
    (OrderState.transmitted, "To do by hand"),
    (OrderState.awaiting_approval, "Awaiting approval"),
    (OrderState.errored, "Errored"),
    (OrderState.pending, "Pending"),
)
BULK_ACTIONS = {OrderState.transmitted: "confirm", OrderState.awaiting_approval: "approve"}
HINTED = (OrderState.transmitted, OrderState.awaiting_approval, OrderState.errored)


# -- signing in ---------------------------------------------------------------------------


@page(bp, "", name="console_home", methods=("GET",), role=None, public=True, query=("next",),
      summary="Staff console: the start page, or the sign-in form when not signed in")
def home(visit: Visit) -> func.HttpResponse:
    wanted = console_path(visit.query("next", max_length=2000))
    if visit.principal is None:
        return visit.html("signin.html", next=wanted, errors={})
    if wanted:
        return visit.redirect(wanted)
    return visit.html("home.html", roles=roles_of(visit.principal))


@page(bp, "sign-in", name="console_sign_in", methods=("POST",), role=None, public=True, statuses=(303, 401, 422),
      summary="Sign in to the console with an API key (an HttpOnly, SameSite=Strict cookie)")
def sign_in(visit: Visit) -> func.HttpResponse:
    key = visit.field("key", max_length=1000).strip()
    wanted = console_path(visit.field("next", max_length=2000))
    if not key:
        return visit.html("signin.html", 422, next=wanted, errors={"key": "Enter an API key."})
    try:
        principal = principal_for_key(key, visit.rt.settings)
    except NotAuthenticated:
        return visit.html("signin.html", 401, next=wanted, errors={"key": "This API key is not known."})
    sessions.end(visit.rt, read_cookie(visit.req, SESSION_COOKIE))  # never carry an old session over
    session_id = sessions.start(visit.rt, key_digest(key))
    lifetime = int(visit.rt.settings.console_session_max.total_seconds())
    visit.cookies.append(cookie(visit.req, SESSION_COOKIE, session_id, lifetime))
    _renew_csrf(visit)
    return visit.redirect(wanted or f"{BASE}/", f"Signed in as {principal.display}.")


@page(bp, "sign-out", name="console_sign_out", methods=("POST",), role=None, public=True, statuses=(303,),
      summary="Sign out of the console (ends the session)")
def sign_out(visit: Visit) -> func.HttpResponse:
    sessions.end(visit.rt, read_cookie(visit.req, SESSION_COOKIE))
    visit.cookies.append(cookie(visit.req, SESSION_COOKIE, "", 0))
    _renew_csrf(visit)
    if visit.rt.settings.auth_enabled and visit.req.headers.get("x-ms-client-principal"):
        return visit.redirect(f"/.auth/logout?post_logout_redirect_uri={quote(BASE + '/')}")
    return visit.redirect(f"{BASE}/", "Signed out.")


@page(bp, "static/console.css", name="console_stylesheet", methods=("GET",), role=None, public=True,
      summary="The console's stylesheet", media="text/css")
def css(visit: Visit) -> func.HttpResponse:
    body, _ = stylesheet()
    return func.HttpResponse(body, mimetype="text/css", charset="utf-8", headers={
        "Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})


# -- persons ------------------------------------------------------------------------------


@page(bp, "persons", name="console_persons", methods=("GET",), role=PEOPLE, query=("q", "source", "source_id"),
      statuses=(200, 303, 422), summary="Find persons by name, email or source identifier")
def find_persons(visit: Visit) -> func.HttpResponse:
    q, source, source_id = visit.query("q", max_length=200), visit.query("source"), visit.query("source_id")
    results, errors, status = [], {}, 200
    try:
        if source or source_id or q:
            results = search.find_persons(visit.rt, source=source, source_id=source_id, q=q, limit=search.MAX_RESULTS)
        if (source or source_id) and results:
            return visit.redirect(f"{BASE}/persons/{quote(results[0].id)}")
    except InvalidInput as error:
        errors, status = field_errors(error), 422
    return visit.html(
        "persons.html", status, section="persons", q=q, source=source, source_id=source_id, results=results,
        errors=errors, searched=bool(q or (source and source_id)) and not errors, limit=search.MAX_RESULTS,
        now=visit.rt.clock.now(),
    )  # fmt: skip


@page(bp, "persons/{id}", name="console_person", methods=("GET",), role=PEOPLE, statuses=(200, 404),
      summary="A person: affiliations, groups with reasons, access with order states, upcoming changes, trail")
def person(visit: Visit) -> func.HttpResponse:
    return visit.html("person.html", section="persons", can_suspend=visit.can(Role.suspend_manage),
                      **views.person_page(visit.rt, visit.route["id"]))


# -- provisioning -------------------------------------------------------------------------


@page(bp, "worklist", name="console_worklist", methods=("GET",), role=(Role.provisioning_operate, Role.persons_read), query=("target", "state", "next"),
      statuses=(200, 400, 422), summary="Orders per target and state, a page at a time: the manual worklist and the approval queue")
def worklist(visit: Visit) -> func.HttpResponse:
    state = _order_state(visit.query("state") or OrderState.transmitted.value)
    target = visit.query("target", max_length=63)
    data = views.worklist(visit.rt, target, state, visit.query("next", max_length=2000))
    data["hints"] = orders.hints(visit.rt, data["orders"]) if state in HINTED else {}
    can_operate = visit.can(OPERATE)
    here = f"{BASE}/worklist?" + urlencode({"target": target or "", "state": state.value})
    return visit.html(
        "worklist.html", section="approvals" if state == OrderState.awaiting_approval else "worklist", tabs=TABS, state=state.value, state_label=dict(TABS)[state].lower(),
        target=target, target_names=views.target_names(data["targets"]), here=here, can_operate=can_operate,
        bulk_action=BULK_ACTIONS.get(state) if can_operate else None, **data,
    )  # fmt: skip


@page(bp, "orders/confirm", name="console_orders_confirm", methods=("POST",), role=Role.provisioning_operate, statuses=(303,),
      summary="Confirm the selected orders: carried out by hand (Transmitted → Executed)")
def confirm_orders(visit: Visit) -> func.HttpResponse:
    return _bulk(visit, "confirm", "confirmed")


@page(bp, "orders/{id}/confirm", name="console_order_confirm", methods=("POST",), role=OPERATE, statuses=(303,),
      summary="Confirm one order, recording the account id created and a note")
def confirm_order(visit: Visit) -> func.HttpResponse:
    back = visit.back(f"{BASE}/worklist")
    account_id = visit.field("account_id", max_length=256).strip() or None
    note = visit.field("note", max_length=2000).strip()
    if any(c in (account_id or "") + note for c in "\r\n\t\x00"):
        return visit.redirect(back, "Not confirmed: the account id and note are single lines.", error=True)
    try:
        order = orders.confirm(visit.rt, visit.route["id"], visit.actor, note, account_id)
    except RosterError as error:
        return visit.redirect(back, f"Not confirmed: {error.detail}.", error=True)
    recorded = f" Account {order.external_id} recorded." if order.external_id else ""
    return visit.redirect(back, f"Confirmed: the {order.action.value} order in {order.target_id} is Executed.{recorded}")


@page(bp, "orders/approve", name="console_orders_approve", methods=("POST",), role=OPERATE, statuses=(303,),
      summary="Approve the selected orders waiting for approval")
def approve_orders(visit: Visit) -> func.HttpResponse:
    return _bulk(visit, "approve", "approved")


@page(bp, "orders/{id}/error", name="console_order_error", methods=("POST",), role=Role.provisioning_operate, statuses=(303,),
      summary="Report that an order could not be carried out, with a message (→ Errored)")
def report_error(visit: Visit) -> func.HttpResponse:
    back = visit.back(f"{BASE}/worklist")
    message = visit.field("message", max_length=2000).strip()
    if not message:
        return visit.redirect(back, "Say what went wrong to report an error.", error=True)
    try:
        order = orders.report_error(visit.rt, visit.route["id"], message, visit.actor)
    except RosterError as error:
        return visit.redirect(back, f"Not reported: {error.detail}.", error=True)
    return visit.redirect(back, f"Reported: the {order.action.value} order in {order.target_id} is Errored.")


@page(bp, "orders/{id}/retry", name="console_order_retry", methods=("POST",), role=Role.provisioning_operate, statuses=(303,),
      summary="Try an errored order again")
def retry_order(visit: Visit) -> func.HttpResponse:
    back = visit.back(f"{BASE}/worklist?state=Errored")
    try:
        order = orders.retry(visit.rt, visit.route["id"], visit.actor)
    except RosterError as error:
        return visit.redirect(back, f"Not retried: {error.detail}.", error=True)
    return visit.redirect(back, f"Retried: the order is {order.state.value}.")


# -- requests -----------------------------------------------------------------------------


@page(bp, "requests", name="console_requests", methods=("GET",), role=Role.requests_manage,
      summary="The request desk's board, one column per state")
def board(visit: Visit) -> func.HttpResponse:
    return visit.html("requests.html", section="requests", columns=views.board(visit.rt))


@page(bp, "requests/{number}", name="console_request", methods=("GET",), role=Role.requests_manage, statuses=(200, 404),
      summary="A request: details, triage, comments with mentions, tasks, the emails sent, its history")
def request_page(visit: Visit) -> func.HttpResponse:
    return _request(visit)


@page(bp, "requests/{number}", name="console_request_change", methods=("POST",), role=Role.requests_manage,
      statuses=(303, 404, 409, 422), summary="Triage a request: move it to another state, give it an owner")
def change_request(visit: Visit) -> func.HttpResponse:
    values = {name: visit.field(name, max_length=2000).strip() for name in ("state", "owner", "note")}
    body = {"owner": values["owner"] or None}
    body.update({name: values[name] for name in ("state", "note") if values[name]})
    try:
        changed = requests.change(visit.rt, visit.route["number"], form_model(RequestChange, body), visit.actor)
    except InvalidInput as error:
        return _request(visit, 422, errors=field_errors(error), values=values)
    except Conflict as error:
        return _request(visit, 409, problem=f"Not saved: {error.detail}.", values=values)
    owner = f"owner {changed.owner}" if changed.owner else "no owner"
    return visit.redirect(_request_url(changed.number), f"Saved: {changed.number} is {changed.state.value}, {owner}.")


@page(bp, "requests/{number}/comments", name="console_request_comment", methods=("POST",), role=Role.requests_manage,
      statuses=(303, 404, 409, 422), summary="Comment on a request; each @address mentioned is emailed")
def comment(visit: Visit) -> func.HttpResponse:
    values = {"text": visit.field("text", max_length=8000), "public": visit.field("public") == "true"}
    try:
        added = requests.comment(visit.rt, visit.route["number"], form_model(CommentIn, values), visit.actor)
    except InvalidInput as error:
        return _request(visit, 422, errors=field_errors(error), values=values)
    except Conflict as error:
        return _request(visit, 409, problem=f"Not added: {error.detail}.", values=values)
    emailed = f" Emailed: {', '.join(added.mentions)}." if added.mentions else ""
    shown = " The requester sees it on their page." if added.public else ""
    return visit.redirect(_request_url(visit.route["number"]), "Comment added." + emailed + shown)


@page(bp, "requests/{number}/link", name="console_request_link", methods=("POST",), role=DESK,
      statuses=(303, 404), summary="Renew the requester's link: the old one stops opening")
def renew_link(visit: Visit) -> func.HttpResponse:
    requests.renew_link(visit.rt, visit.route["number"], visit.actor)
    return visit.redirect(_request_url(visit.route["number"]),
                          "A new requester link was made; the old one no longer opens.")


@page(bp, "requests/{number}/tasks", name="console_request_task", methods=("POST",), role=Role.requests_manage,
      statuses=(303, 404, 409, 422), summary="Add a task to a request, optionally with manual provisioning orders")
def add_task(visit: Visit) -> func.HttpResponse:
    values = {name: visit.field(name, max_length=320).strip() for name in ("title", "assignee")}
    body = {"title": values["title"], "assignee": values["assignee"] or None,
            "create_orders": visit.field("create_orders") == "true"}
    try:
        task = requests.create_task(visit.rt, visit.route["number"], form_model(TaskIn, body), visit.actor)
    except InvalidInput as error:
        return _request(visit, 422, errors=field_errors(error), values=values)
    except Conflict as error:
        return _request(visit, 409, problem=f"Not added: {error.detail}.", values=values)
    made = f" with {len(task.order_ids)} orders on the worklist" if task.order_ids else ""
    return visit.redirect(_request_url(visit.route["number"]), f"Task added{made}.")


@page(bp, "requests/{number}/tasks/{id}/complete", name="console_request_task_complete", methods=("POST",),
      role=Role.requests_manage, statuses=(303, 404, 409), summary="Complete a task (its orders carried out); emails the requester")
def complete_task(visit: Visit) -> func.HttpResponse:
    number = visit.route["number"]
    try:
        task = requests.complete_task(visit.rt, number, visit.route["id"], visit.actor)
    except Conflict as error:
        return _request(visit, 409, problem=f"Not completed: {error.detail}.")
    return visit.redirect(_request_url(number), f"Completed: {task.title}. The requester is told.")


# -- groups -------------------------------------------------------------------------------


@page(bp, "groups", name="console_groups", methods=("GET",), role=(Role.groups_manage, Role.persons_read), summary="Groups")
def list_groups(visit: Visit) -> func.HttpResponse:
    return visit.html("groups.html", section="groups", errors={}, values={}, **views.groups_page(visit.rt))


@page(bp, "groups/{id}", name="console_group", methods=("GET",), role=(Role.groups_manage, Role.persons_read), statuses=(200, 404),
      summary="A group: its members with reasons, and the rule editor")
def group_page(visit: Visit) -> func.HttpResponse:
    group = groups.get_group(visit.rt, visit.route["id"])
    return _group(visit, group, group.rule or "")


@page(bp, "groups/{id}/preview", name="console_group_preview", methods=("POST",), role=Role.groups_manage,
      statuses=(200, 404, 409, 422), summary="Preview a rule in the editor: who would join and leave (nothing saved)")
def preview_rule(visit: Visit) -> func.HttpResponse:
    group = _dynamic(visit)
    return _group(visit, group, _rule(visit), preview=True)


@page(bp, "groups/{id}", name="console_group_save", methods=("POST",), role=Role.groups_manage,
      statuses=(200, 303, 404, 409, 422), summary="Save the rule of the editor (after previewing it)")
def save_rule(visit: Visit) -> func.HttpResponse:
    group, rule = _dynamic(visit), _rule(visit)
    here = f"{BASE}/groups/{quote(group.id)}"
    if visit.field("version") != str(group.version):
        conflict = (f"{group.name} was changed meanwhile (now version {group.version}, rule below). "
                    "Check the preview again, then save to replace it.")
        return _group(visit, group, rule, preview=True, status=409, conflict=conflict)
    if visit.field("previewed", max_length=64) != views.rule_fingerprint(rule):
        return _group(visit, group, rule, preview=True, note="Check who would join and who would leave, then save.")
    if rule == group.rule:
        return visit.redirect(here, "The rule is unchanged.")
    try:
        saved = groups.update_group(visit.rt, group.id, form_model(GroupIn, views.changed_group(group, rule)), visit.actor)
    except InvalidInput:
        return _group(visit, group, rule, preview=True)
    except Conflict as error:
        return _group(visit, group, rule, preview=True, status=409, conflict=f"Not saved: {error.detail}.")
    return visit.redirect(here, f"Saved: version {saved.version} of the rule. Everyone is being re-evaluated.")


# -- helpers ------------------------------------------------------------------------------


def _renew_csrf(visit: Visit) -> None:
    visit.csrf, visit.renew_csrf = secrets.token_urlsafe(32), True




def _order_state(value: str) -> OrderState:
    states = {s.value: s for s, _ in TABS}
    if value not in states:
        raise InvalidInput(f"state must be one of {', '.join(states)}", [FieldError("state", ", ".join(states))])
    return states[value]


def _bulk(visit: Visit, action: str, done: str):
    back = visit.back(f"{BASE}/worklist")
    ids = visit.fields("ids", max_items=orders.BULK_LIMIT)
    if not ids:
        return visit.redirect(back, "Select at least one order first.", error=True)
    message, failed = views.bulk_summary(visit.rt, orders.bulk(visit.rt, action, ids, visit.actor), done)
    return visit.redirect(back, message, error=failed)


def _request_url(number: str) -> str:
    return f"{BASE}/requests/{quote(number)}"


def _request(visit: Visit, status: int = 200, *, errors: dict | None = None, values: dict | None = None,
             problem: str | None = None) -> func.HttpResponse:
    data = views.request_page(visit.rt, visit.route["number"])
    return visit.html("request.html", status, section="requests", errors=errors or {}, values=values or {},
                      problem=problem, **data)


def _dynamic(visit: Visit) -> Group:
    group = groups.get_group(visit.rt, visit.route["id"])
    if group.kind != "dynamic" or group.id == SUSPEND_IMMEDIATE:
        raise Conflict(f"{group.id} is a static group: its members are added by hand, it has no rule")
    return group


def _rule(visit: Visit) -> str:
    """The editor's text, with the browser's CRLF line breaks as LF (positions count lines)."""
    return visit.field("rule", max_length=200_000).replace("\r\n", "\n").strip()


def _group(visit: Visit, group: Group, rule: str, *, preview: bool = False, status: int = 200,
           note: str | None = None, conflict: str | None = None) -> func.HttpResponse:
    result, problem = None, None
    if preview:
        try:
            result = groups.preview(visit.rt, group.id, rule)
        except InvalidInput as error:
            problem, status = views.rule_problem(rule, error), 422
    editable = visit.can(GROUPS) and group.kind == "dynamic" and group.id != SUSPEND_IMMEDIATE
    needed = Role.suspend_manage if group.policy == "suspend" else GROUPS
    return visit.html(
        "group.html", status, section="groups", rule=rule, preview=result, problem=problem, editable=editable,
        members_editable=group.kind == "static" and visit.can(needed),
        deletable=visit.can(GROUPS) and group.id != SUSPEND_IMMEDIATE,
        fingerprint=views.rule_fingerprint(rule), preview_note=note, problem_conflict=conflict,
        **views.group_page(visit.rt, group.id),
    )  # fmt: skip
