"""Azure DevOps → Roster: service-hook events change the request desk (docs/request-desk.md).

`POST /api/devops/hooks` receives *work item updated* and *work item commented on* events,
authenticated with the shared secret chosen when the hook was set up (basic authentication:
any user name, the secret as the password). Each event is handled once (its id is kept); a
state is mapped back through `ROSTER_DEVOPS_STATES`; an echo of Roster's own change (the
request is already in that state, a comment carrying Roster's marker) changes nothing, so
the two sides never loop.
"""

from __future__ import annotations

import base64
import hmac
import html
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import NotAuthenticated, NotFound, RosterError
from shared.models.request import MAX_COMMENT, CommentIn, RequestChange
from shared.runtime import Runtime
from shared.services import requests
from shared.services.tickets import DEVOPS_ACTOR
from shared.store.tickets import TicketLinkRepository

UPDATED, COMMENTED = "workitem.updated", "workitem.commented"
_TAG = re.compile(r"<[^>]+>")


class HookEvent(BaseModel):
    """The part of a service-hook event Roster reads (other members are ignored)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    id: str = Field(min_length=1, max_length=200)
    eventType: str = Field(min_length=1, max_length=100)  # noqa: N815 — the wire name
    resource: dict[str, Any]


def receive(rt: Runtime, event: HookEvent, authorization: str | None) -> dict:
    tracker = rt.tickets
    if not tracker.enabled:
        raise NotFound("the Azure DevOps mirror is off (ROSTER_TICKETS)")
    _authenticate(tracker.settings.hook_secret, authorization)
    links = TicketLinkRepository(rt.store)
    if not links.claim_event(event.id, rt.clock.now()):
        return {"outcome": "duplicate"}
    try:
        return _handle(rt, links, event)
    except Exception:
        links.release_event(event.id)  # the tracker retries; let that retry be handled
        raise


def _handle(rt: Runtime, links: TicketLinkRepository, event: HookEvent) -> dict:
    resource = event.resource
    item_id = resource.get("workItemId") or resource.get("id")
    number = links.number_of(item_id) if isinstance(item_id, int) else None
    if number is None:
        return {"outcome": "ignored", "reason": "not a work item Roster mirrors"}
    if event.eventType == UPDATED:
        return _state_changed(rt, number, resource)
    if event.eventType == COMMENTED:
        return _commented(rt, number, resource)
    return {"outcome": "ignored", "reason": f"{event.eventType} is not handled"}


def _state_changed(rt: Runtime, number: str, resource: dict) -> dict:
    change = (resource.get("fields") or {}).get("System.State")
    if not isinstance(change, dict) or not isinstance(change.get("newValue"), str):
        return {"outcome": "ignored", "reason": "the state did not change"}
    request = requests.get(rt, number)
    target = rt.tickets.settings.roster_state(change["newValue"], request.state)
    if target is None:
        return {"outcome": "ignored", "reason": f"{number} cannot move from {request.state.value} to what "
                                                f"{change['newValue']!r} maps to"}
    if target == request.state:
        return {"outcome": "unchanged", "number": number, "state": request.state.value}
    who = _who(resource)
    try:
        changed = requests.change(rt, number, RequestChange(state=target, note=f"changed in Azure DevOps by {who}"),
                                  f"{DEVOPS_ACTOR}{who}")
    except RosterError as refused:
        if refused.status >= 500:
            raise
        return {"outcome": "ignored", "reason": refused.detail}
    return {"outcome": "applied", "number": number, "state": changed.state.value}


def _commented(rt: Runtime, number: str, resource: dict) -> dict:
    text = (resource.get("fields") or {}).get("System.History")
    if not isinstance(text, str) or not text.strip():
        return {"outcome": "ignored", "reason": "no comment text"}
    if "roster-comment:" in text:
        return {"outcome": "unchanged", "reason": "Roster's own comment"}
    plain = html.unescape(_TAG.sub(" ", text.replace("<br>", "\n"))).strip()[:MAX_COMMENT]
    plain = "".join(ch for ch in plain if ch in "\n\t" or ch.isprintable())
    comment = requests.comment(rt, number, CommentIn(text=plain), f"{DEVOPS_ACTOR}{_who(resource)}")
    return {"outcome": "applied", "number": number, "comment": comment.id}


def _who(resource: dict) -> str:
    revised = resource.get("revisedBy")
    if isinstance(revised, dict) and isinstance(revised.get("displayName"), str):
        return revised["displayName"][:100]
    changed = (resource.get("fields") or {}).get("System.ChangedBy")
    if isinstance(changed, str):
        return changed.split("<")[0].strip()[:100] or "someone"
    return "someone"


def _authenticate(secret: str | None, authorization: str | None) -> None:
    if not secret:
        raise NotAuthenticated("service hooks need ROSTER_DEVOPS_HOOK_SECRET")
    scheme, _, value = (authorization or "").partition(" ")
    try:
        _, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except ValueError:
        password = ""
    if scheme.lower() != "basic" or not hmac.compare_digest(password.encode(), secret.encode()):
        raise NotAuthenticated("the service hook's credentials are not the shared secret")
