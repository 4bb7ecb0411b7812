"""The request desk mirrored to the team's tracker: Roster → Azure DevOps Boards.

Every desk change that a tracker cares about (a request opened, its state, a comment, a task,
a task completed) leaves a `ticket` item in the request's own outbox, in the same batch as
the change (shared/store/requests.py); `flush` hands it to the `ticket-mirror` queue
(sessions by request number, so one request's events run in order), and `mirror` carries it
out. A tracker outage never blocks the desk: the event waits on the queue and is retried
later (scheduled, honouring Retry-After). Every step is idempotent, so a retry never creates
a second work item, child or comment:

- the work item carries the tag `roster-<number>`, a task's child `roster-<number>-<task>`:
  a retry after a crash finds what it created before it was remembered;
- a comment carries the marker `roster-comment:<id>` and is posted only if no comment has it;
- states are state-based: the item is moved to what the request's *current* state maps to.
"""

from __future__ import annotations

import html
import logging
import re
from datetime import timedelta
from typing import Literal

from shared.bus import bus_id
from shared.errors import Busy, RosterError
from shared.models.base import Model
from shared.models.request import Comment, Request, Task
from shared.runtime import Runtime
from shared.services import notifications
from shared.store.requests import Pending, RequestRepository
from shared.store.targets import TargetRepository
from shared.store.tickets import Link, TicketLinkRepository
from shared.tickets.port import StaleRevision, TicketError, TicketRefused, Tracker, WorkItem

log = logging.getLogger("roster.tickets")
DEVOPS_ACTOR = "devops:"
MAX_ATTEMPTS = 8
STATE_ATTEMPTS = 3
EVENTS = {
    "request.submitted": "opened",
    "request.state_changed": "state",
    "request.commented": "comment",
    "request.task_created": "task",
    "request.task_completed": "task_completed",
}
_MENTION = re.compile(r"(?<![\w.+-])@([^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+?)(?=[.!?]?(?:\s|$))")


class TicketEvent(Model):
    """One `ticket-mirror` message: which request, what happened, which attempt."""

    id: str
    number: str
    event: Literal["opened", "state", "comment", "task", "task_completed"]
    comment_id: str | None = None
    task_id: str | None = None
    attempt: int = 1


class MirrorRefused(RosterError):
    """The tracker refused for good: parked as a dead letter with the reason, not retried."""

    status, title, slug = 422, "Refused by the tracker", "tracker-refused"


def pending_for(rt: Runtime, request: Request, action: str, details: dict | None = None) -> list[Pending]:
    """The outbox item a desk change leaves for the mirror (none when the mirror is off)."""
    event = EVENTS.get(action)
    if event is None or not rt.tickets.enabled:
        return []
    details = details or {}
    message_id = f"ticket:{request.number}:v{request.version}:{event}"
    body = TicketEvent(id=message_id, number=request.number, event=event, comment_id=details.get("comment"),
                       task_id=details.get("task"))
    return [Pending("ticket", message_id, body.model_dump(mode="json"))]


def mirror(rt: Runtime, event: TicketEvent) -> None:
    """Carry out one event against the tracker; a transient failure is retried later."""
    tracker = rt.tickets
    if not tracker.enabled:
        return
    stored = RequestRepository(rt.store).get(event.number)
    if stored is None:
        raise MirrorRefused(f"no request {event.number}")
    try:
        item = _work_item(rt, tracker, stored.request)
        _STEPS[event.event](rt, tracker, stored.request, item, event)
    except TicketRefused as refused:
        raise MirrorRefused(str(refused)) from None
    except TicketError as error:
        _retry_later(rt, event, error)


# -- the steps ----------------------------------------------------------------------------


def _work_item(rt: Runtime, tracker: Tracker, request: Request) -> WorkItem:
    """The request's work item; created (or found by its tag after a crash) the first time,
    when the desk's Teams channel also hears of the request, with both links."""
    links = TicketLinkRepository(rt.store)
    known = links.work_item(request.number)
    if known is not None:
        return tracker.get(known.id)
    tag = f"roster-{request.number}"
    item = tracker.find(tag) or tracker.create(
        tracker.settings.work_item_type, _fields(rt, request), ["roster", tag, request.category.value])
    link = Link(item.id, item.url, item.link)
    links.save_work_item(request.number, link)
    log.info("work item %s mirrors %s", item.id, request.number)
    if rt.settings.teams_webhook:
        notifications.post_to_teams(rt.settings, notifications.teams_card(rt, request, link), request.number)
    return item


def _sync_state(rt: Runtime, tracker: Tracker, request: Request, item: WorkItem, event: TicketEvent) -> None:
    _move(tracker, item, tracker.settings.states[request.state.value])


def _mirror_comment(rt: Runtime, tracker: Tracker, request: Request, item: WorkItem, event: TicketEvent) -> None:
    comment = next((c for c in request.comments if c.id == event.comment_id), None)
    if comment is None or comment.author.startswith(DEVOPS_ACTOR):
        return  # gone, or it came from the tracker: never echoed back
    marker = f"roster-comment:{comment.id}"
    if any(marker in text for text in tracker.comments(item.id)):
        return
    tracker.add_comment(item.id, _comment_html(tracker, comment, marker))


def _mirror_task(rt: Runtime, tracker: Tracker, request: Request, item: WorkItem, event: TicketEvent) -> None:
    task = request.task(event.task_id or "")
    if task is not None:
        _child(rt, tracker, request, item, task)


def _complete_task(rt: Runtime, tracker: Tracker, request: Request, item: WorkItem, event: TicketEvent) -> None:
    task = request.task(event.task_id or "")
    if task is not None:
        child = _child(rt, tracker, request, item, task)
        _move(tracker, child, tracker.settings.task_states[task.state.value])


_STEPS = {
    "opened": _sync_state,
    "state": _sync_state,
    "comment": _mirror_comment,
    "task": _mirror_task,
    "task_completed": _complete_task,
}


def _child(rt: Runtime, tracker: Tracker, request: Request, parent: WorkItem, task: Task) -> WorkItem:
    """The task's child work item, created and linked once."""
    links = TicketLinkRepository(rt.store)
    known = links.task(request.number, task.id)
    if known is not None:
        child = tracker.get(known.id)
    else:
        tag = f"roster-{request.number}-{task.id}"
        child = tracker.find(tag) or tracker.create(
            "Task", {"System.Title": task.title}, ["roster", tag])
        links.save_task(request.number, task.id, Link(child.id, child.url, child.link))
    for _ in range(STATE_ATTEMPTS):
        if child.url in parent.children:
            return child
        try:
            parent = tracker.link_child(parent, child)
        except StaleRevision:
            parent = tracker.get(parent.id)
    return child


def _move(tracker: Tracker, item: WorkItem, wanted: str) -> WorkItem:
    for _ in range(STATE_ATTEMPTS):
        if item.state == wanted:
            return item
        try:
            return tracker.set_state(item, wanted)
        except StaleRevision:
            item = tracker.get(item.id)
    raise TicketError(f"work item {item.id} keeps changing")


def _retry_later(rt: Runtime, event: TicketEvent, error: TicketError) -> None:
    """The event again later, scheduled; after MAX_ATTEMPTS the message comes back and, past
    the queue's delivery count, lands in its dead-letter queue."""
    if event.attempt >= MAX_ATTEMPTS:
        raise Busy(f"the tracker keeps failing for {event.number}: {error.note}")
    wait = error.retry_after if error.retry_after is not None else min(2.0 ** event.attempt, 300.0)
    again = event.model_copy(update={"attempt": event.attempt + 1})
    rt.bus.publish(rt.settings.queue("ticket-mirror"), again.model_dump_json(),
                   message_id=bus_id(f"{event.id}:a{again.attempt}"), session_id=event.number,
                   scheduled_at=rt.clock.now() + timedelta(seconds=wait))
    log.warning("tracker failed for %s (%s); attempt %d in %.0f s", event.number, error.note, again.attempt, wait)


# -- what the tracker shows ---------------------------------------------------------------


def _fields(rt: Runtime, request: Request) -> dict[str, str]:
    target = TargetRepository(rt.store).get(request.service)
    service = target.name if target else request.service
    accounts = "".join(f"<li>{html.escape(a.name)} &lt;{html.escape(a.email)}&gt; — {a.action.value}</li>"
                       for a in request.accounts)
    link = f"{rt.settings.public_url}/api/console/requests/{request.number}"
    description = (
        f"<p>{html.escape(request.details).replace(chr(10), '<br>')}</p>"
        f"<p>Requested by {html.escape(request.requester.name)} &lt;{html.escape(request.requester.email)}&gt;"
        f" on {request.submitted_at:%Y-%m-%d %H:%M} UTC.</p>"
        + (f"<p>Accounts:</p><ul>{accounts}</ul>" if accounts else "")
        + f'<p>Roster: <a href="{html.escape(link)}">{request.number}</a></p>'
    )
    return {"System.Title": f"{request.number} · {request.category.value} · {service}",
            "System.Description": description}


def _comment_html(tracker: Tracker, comment: Comment, marker: str) -> str:
    """The comment's text escaped, its @mentions as DevOps mentions where the identity is known."""
    identities = tracker.settings.identities

    def mention(match: re.Match) -> str:
        known = identities.get(match.group(1).casefold())
        if known is None:
            return match.group(0)
        return (f'<a href="#" data-vss-mention="version:2.0,{html.escape(known["id"])}">'
                f'@{html.escape(known["name"])}</a>')

    text = _MENTION.sub(mention, html.escape(comment.text, quote=False))
    author = html.escape(comment.author)
    return f"<p>{text.replace(chr(10), '<br>')}</p><p><small>{author} in Roster · {marker}</small></p>"
