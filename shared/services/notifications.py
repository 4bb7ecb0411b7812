"""Notifications: the request desk's emails (Jinja2, HTML and plain text) and the optional
Teams channel post; sending what arrives on the `notification` queue through the Mailer.

Subjects are built here from the request number and fixed words only, never from what a
client typed; bodies are templates, the HTML ones autoescaped.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from shared import outbound
from shared.config import Settings
from shared.errors import FieldError, InvalidInput
from shared.mail.outbox import OutboxMailer
from shared.models.messages import Email
from shared.models.request import AccountAction, Comment, Request, Task
from shared.runtime import Runtime
from shared.services.paging import Page
from shared.store.requests import Pending, RequestRepository
from shared.store.targets import TargetRepository
from shared.store.tickets import Link as TicketLink
from shared.store.tickets import TicketLinkRepository

log = logging.getLogger("roster.notifications")
TEMPLATES = Path(__file__).resolve().parents[1] / "mail" / "templates"
TEAMS_TIMEOUT = 5.0
ACTION_HEADINGS = {
    AccountAction.add: "Accounts added",
    AccountAction.reset: "Accounts reset",
    AccountAction.remove: "Accounts removed",
    AccountAction.change: "Accounts changed",
}


@lru_cache(maxsize=1)
def templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def request_link(settings: Settings, number: str) -> str:
    """Where staff see a request: its page in the staff console."""
    return f"{settings.public_url}/api/console/requests/{number}"


def requester_link(rt: Runtime, number: str) -> str:
    """Where the requester sees it: the page behind the request's unguessable link."""
    token = RequestRepository(rt.store).viewer_token(number)
    return f"{rt.settings.public_url}/api/track/{number}/{token}"


def send(rt: Runtime, email: Email) -> None:
    """Hand one queued email to the mailer; MailError propagates (the message comes back)."""
    rt.mail.send(email)


# -- the emails of each step --------------------------------------------------------------


def submitted(rt: Runtime, request: Request) -> list[Pending]:
    """Confirmation to the requester; a notice to the desk; the Teams post if configured."""
    n = request.number
    pending = [
        _email(rt, f"request:{n}:received", "received", request,
               to=[request.requester.email], subject=f"{n}: we have received your request"),
        _email(rt, f"request:{n}:new", "new", request, to=[rt.settings.staff_email],
               subject=f"{n}: new {request.category.value} request for {request.service}",
               reply_to=request.requester.email),
    ]  # fmt: skip
    if rt.settings.teams_webhook and not rt.tickets.enabled:  # with the mirror on, it posts with the ticket link
        pending.append(Pending("teams", f"request:{n}:teams", teams_card(rt, request)))
    return pending


def state_changed(rt: Runtime, request: Request, note: str | None) -> list[Pending]:
    """The requester hears when planning starts, when the request is rejected or closed."""
    n, state = request.number, request.state.value
    subjects = {
        "InPlanning": f"{n}: your request is being planned",
        "Rejected": f"{n}: your request has been declined",
        "Closed": f"{n}: your request has been completed",
    }
    if state not in subjects:
        return []
    template = {"InPlanning": "planning", "Rejected": "rejected", "Closed": "closed"}[state]
    return [
        _email(rt, f"request:{n}:v{request.version}:{template}", template, request,
               to=[request.requester.email], cc=_cc(request.owner), subject=subjects[state],
               note=note)
    ]  # fmt: skip


def owner_assigned(rt: Runtime, request: Request) -> list[Pending]:
    n = request.number
    if request.owner is None:
        return []
    return [
        _email(rt, f"request:{n}:v{request.version}:owner", "owner", request, to=[request.owner],
               subject=f"{n}: you are the owner of this request")
    ]  # fmt: skip


def commented(rt: Runtime, request: Request, comment: Comment) -> list[Pending]:
    """Each address mentioned in the comment gets it; a public comment also goes to the
    requester (once, even when mentioned too)."""
    n = request.number
    pending = [
        _email(rt, f"request:{n}:comment:{comment.id}:{_digest(address)}", "mention", request,
               to=[address], subject=f"{n}: you were mentioned in a comment", comment=comment)
        for address in comment.mentions
        if not (comment.public and _same(address, request.requester.email))
    ]  # fmt: skip
    if comment.public:
        pending.append(_email(rt, f"request:{n}:comment:{comment.id}:requester", "comment", request,
                              to=[request.requester.email], subject=f"{n}: a new comment on your request",
                              comment=comment))
    return pending


def task_assigned(rt: Runtime, request: Request, task: Task) -> list[Pending]:
    n = request.number
    if task.assignee is None:
        return []
    return [
        _email(rt, f"request:{n}:v{request.version}:task:{task.id}:assigned", "task_assigned",
               request, to=[task.assignee], subject=f"{n}: a task has been assigned to you",
               task=task)
    ]  # fmt: skip


def task_completed(rt: Runtime, request: Request, task: Task) -> list[Pending]:
    """The requester (cc the owner) is told what was done: the accounts, by action."""
    n = request.number
    return [
        _email(rt, f"request:{n}:task:{task.id}:completed", "task_completed", request,
               to=[request.requester.email], cc=_cc(request.owner),
               subject=f"{n}: work on your request has been completed", task=task)
    ]  # fmt: skip


# -- Teams --------------------------------------------------------------------------------


def teams_card(rt: Runtime, request: Request, ticket: TicketLink | None = None) -> dict[str, Any]:
    """An Adaptive Card message, as both Teams incoming webhooks and Workflows accept it.
    It names the request, not the people in it; with the ticket mirror, it links the work item."""
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": True,
             "text": f"New request {request.number}"},
            {"type": "FactSet", "facts": [
                {"title": "Service", "value": service_name(rt, request.service)},
                {"title": "Category", "value": request.category.value},
                {"title": "Accounts", "value": str(len(request.accounts))},
            ]},
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": "Open the request",
             "url": request_link(rt.settings, request.number)}
        ],
    }  # fmt: skip
    if ticket is not None:
        card["body"][1]["facts"].append({"title": "Azure DevOps", "value": f"#{ticket.id}"})
        card["actions"].append({"type": "Action.OpenUrl", "title": f"Open #{ticket.id} in Azure DevOps",
                                "url": ticket.link})
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
             "content": card}
        ],
    }  # fmt: skip


def post_to_teams(settings: Settings, card: dict[str, Any], what: str) -> bool:
    """Best effort: False (and a log line naming `what`, not the URL or any person) on failure."""
    if not settings.teams_webhook:
        return False
    try:
        with outbound.client(field="ROSTER_TEAMS_WEBHOOK", policy=settings.outbound, timeout=TEAMS_TIMEOUT) as http:
            response = http.post(settings.teams_webhook, json=card)
        response.raise_for_status()
    except Exception as exc:  # noqa: BLE001 — a channel post never fails the request
        status = getattr(getattr(exc, "response", None), "status_code", None)
        log.warning("Teams post for %s failed: %s%s", what, type(exc).__name__,
                    f" (HTTP {status})" if status else "")  # fmt: skip
        return False
    return True


# -- helpers ------------------------------------------------------------------------------


def _email(
    rt: Runtime,
    message_id: str,
    template: str,
    request: Request,
    *,
    to: list[str],
    subject: str,
    cc: list[str] | None = None,
    reply_to: str | None = None,
    **extra: Any,
) -> Pending:
    for_requester = all(_same(address, request.requester.email) for address in to)
    context = {
        "request": request,
        "link": requester_link(rt, request.number) if for_requester else request_link(rt.settings, request.number),
        "for_requester": for_requester,
        "who": (lambda actor: rt.settings.display_name(actor, "The request desk")) if for_requester
        else rt.settings.display_name,
        "service_name": service_name(rt, request.service),
        "accounts": _by_action(request),
        "desk": rt.settings.staff_email,
        "ticket": TicketLinkRepository(rt.store).work_item(request.number) if rt.tickets.enabled else None,
        **extra,
    }
    env = templates()
    lowered = {a.casefold() for a in to}
    email = Email(
        to=to,
        cc=[a for a in dict.fromkeys(cc or []) if a.casefold() not in lowered],
        subject=subject,
        text=env.get_template(f"{template}.txt").render(context),
        html=env.get_template(f"{template}.html").render(context),
        reply_to=reply_to,
    )
    return Pending("email", message_id, email.model_dump(mode="json"))


def _by_action(request: Request) -> list[tuple[str, list]]:
    groups: dict[AccountAction, list] = defaultdict(list)
    for account in request.accounts:
        groups[account.action].append(account)
    return [(ACTION_HEADINGS[a], groups[a]) for a in AccountAction if groups[a]]


def service_name(rt: Runtime, service: str) -> str:
    target = TargetRepository(rt.store).get(service)
    return target.name if target else service


def _same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def _cc(owner: str | None) -> list[str]:
    return [owner] if owner else []


def _digest(text: str) -> str:
    return hashlib.sha256(text.casefold().encode()).hexdigest()[:16]


def stored_emails(rt: Runtime, limit: int = 500) -> list[dict]:
    """What the outbox mailer stored, newest last; InvalidInput (422) when the outbox is not in use."""
    return list(_outbox(rt).sent(limit=limit))


def stored_email_page(rt: Runtime, page: Page) -> tuple[list[dict], str | None]:
    """One page of `stored_emails`, read from the outbox page by page, oldest first."""
    return page.take(_outbox(rt).sent_from(page.cursor, page.limit + 1))


def _outbox(rt: Runtime) -> OutboxMailer:
    if not isinstance(rt.mail, OutboxMailer):
        raise InvalidInput("the outbox is not in use", [FieldError("ROSTER_MAIL", "is not outbox")])
    return rt.mail
