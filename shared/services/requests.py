"""The request desk (docs/architecture.md §1 Request intake, §5 Request).

A Power Automate flow submits a form response; it becomes `REQ-000123` exactly once, however
often the flow retries. Staff move it New → InPlanning → InProgress → Done → Closed (or
Rejected), comment, and work through tasks. Every change is written with its audit record
and the notifications it causes in one batch, then the notifications leave (`flush`).
"""

from __future__ import annotations

import hmac
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError
from pydantic.networks import EmailStr

from shared.bus import bus_id
from shared.bus.port import BusError
from shared.errors import Busy, Conflict, FieldError, InvalidInput, NotAllowed, NotFound
from shared.models.request import (
    FINAL,
    MAX_MENTIONS,
    NUMBER,
    TRANSITIONS,
    Account,
    Category,
    Comment,
    CommentIn,
    Request,
    RequestChange,
    RequesterRef,
    RequestSubmission,
    State,
    Task,
    TaskChange,
    TaskIn,
    TaskState,
)
from shared.runtime import Runtime
from shared.services import notifications, tickets
from shared.services.eligibility import eligibility, persons_with_email
from shared.services.paging import Page
from shared.store.audit import audit_entity
from shared.store.contention import retrying
from shared.store.port import EntityExists
from shared.store.requests import Claim, Pending, RequestRepository
from shared.store.targets import TargetRepository

MAX_TASKS = 50
MAX_COMMENTS = 500
ORDER_CATEGORIES = (Category.invite, Category.reset, Category.remove)
QUEUED = {"email": "notification", "ticket": "ticket-mirror"}  # outbox kinds → queues
DONE_ORDER_STATES = ("Executed", "Verified")
# `@` + an address, not preceded by a character that would make it part of a word/address.
_MENTION = re.compile(r"(?<![\w.+-])@([^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+)")
_TRAILING = ".!?"
_ADDRESS = TypeAdapter(EmailStr)


class RequestNotFound(NotFound):
    pass


class RequesterNotEligible(NotAllowed):
    title, slug = "Requester not eligible", "requester-not-eligible"


class InvalidTransition(Conflict):
    title, slug = "Invalid transition", "invalid-transition"


@dataclass(frozen=True)
class Submitted:
    request: Request
    created: bool


# -- intake -------------------------------------------------------------------------------


def submit(rt: Runtime, submission: RequestSubmission, actor: str) -> Submitted:
    """The request for this form response: created once, the same one for every retry.

    A retry also finishes what a crash left undone: the request of a reserved number, the
    notifications not yet sent, the list entry."""
    repo = RequestRepository(rt.store)
    claim = repo.claim(submission.form_response_id)
    if claim is None:
        if TargetRepository(rt.store).get(submission.service) is None:
            raise InvalidInput(
                f"there is no service {submission.service!r}",
                [FieldError("service", "not a known service (target id)")],
            )
        _refuse_if_not_eligible(rt, submission, actor)
        claim = _reserve(rt, repo, submission)
    created = False
    stored = repo.get(claim.number)
    if stored is None:
        request = _new_request(rt, claim)
        audit = audit_entity(
            request.number, request.created_at, actor, "request.submitted",
            f"form response {claim.form_response_id}",
            {"service": request.service, "category": request.category.value,
             "accounts": len(request.accounts)},
            request.version,
        )  # fmt: skip
        try:
            repo.create(request, audit, notifications.submitted(rt, request)
                        + tickets.pending_for(rt, request, "request.submitted"))
            created = True
        except EntityExists:  # the same form response, submitted at the same moment
            stored = repo.get(claim.number)
    if stored is not None:
        request = stored.request
    repo.index(request)
    flush(rt, repo, request.number)
    return Submitted(request, created)


def _reserve(rt: Runtime, repo: RequestRepository, submission: RequestSubmission) -> Claim:
    def once() -> Claim:
        return repo.claim(submission.form_response_id) or repo.reserve(submission, rt.clock.now())

    return retrying(once, "many requests are arriving at once; retry")


def _new_request(rt: Runtime, claim: Claim) -> Request:
    submission, now = claim.submission, rt.clock.now()
    persons = persons_with_email(rt, submission.requester.email)
    return Request(
        number=claim.number,
        form_response_id=claim.form_response_id,
        submitted_at=submission.submitted_at,
        requester=RequesterRef(
            email=submission.requester.email,
            name=submission.requester.name,
            person_id=persons[0].id if len(persons) == 1 else None,
        ),
        service=submission.service,
        category=submission.category,
        details=submission.details,
        accounts=submission.resolved_accounts(),
        created_at=now,
        updated_at=now,
    )


def _refuse_if_not_eligible(rt: Runtime, submission: RequestSubmission, actor: str) -> None:
    """A suspended requester is refused; the attempt goes to their audit trail."""
    for person in persons_with_email(rt, submission.requester.email):
        verdict = eligibility(rt, person.id)
        if verdict.can_request:
            continue
        now = rt.clock.now()
        rt.store.table("persons").insert(
            audit_entity(
                person.id, now, actor, "request.refused", verdict.reason,
                {"form_response_id": submission.form_response_id, "service": submission.service,
                 "category": submission.category.value},
            )
        )  # fmt: skip
        raise RequesterNotEligible(f"the requester cannot make requests: {verdict.reason}")


# -- reading ------------------------------------------------------------------------------


def get(rt: Runtime, number: str) -> Request:
    stored = RequestRepository(rt.store).get(number) if NUMBER.match(number) else None
    if stored is None:
        raise RequestNotFound(f"no request {number[:40]!r}")
    return stored.request


def request_page(rt: Runtime, state: State | None, owner: str | None, page: Page) -> tuple[list[Request], str | None]:
    """One page of requests in number order, read from the index page by page; the cursor is
    the number the next page starts from."""
    found, following = listing(rt, state=state, owner=owner, start=page.cursor, limit=page.limit)
    return found, (page.token(following) if following else None)


def listing(
    rt: Runtime, *, state: State | None, owner: str | None, start: str | None, limit: int
) -> tuple[list[Request], str | None]:
    repo = RequestRepository(rt.store)
    numbers, following = repo.numbers(
        state=state.value if state else None, owner=owner, start=start, limit=limit
    )
    found = [stored.request for n in numbers if (stored := repo.get(n)) is not None]
    return found, following


# -- the workflow -------------------------------------------------------------------------


def change(rt: Runtime, number: str, body: RequestChange, actor: str) -> Request:
    """Move the request to another state and/or give it an owner (`owner: null` clears)."""
    owner_given = "owner" in body.model_fields_set

    def apply(request: Request) -> _Change | None:
        changes: dict[str, object] = {}
        if body.state is not None and body.state != request.state:
            _check_transition(request, body.state)
            changes["state"] = (request.state.value, body.state.value)
            request.state = body.state
        if owner_given and body.owner != request.owner:
            changes["owner"] = (request.owner, body.owner)
            request.owner = body.owner
        if not changes:
            return None
        action = "request.state_changed" if "state" in changes else "request.owner_changed"

        def notices(saved: Request) -> list[Pending]:
            pending = notifications.owner_assigned(rt, saved) if "owner" in changes else []
            if "state" in changes:
                pending += notifications.state_changed(rt, saved, body.note)
            return pending

        details: dict[str, object] = {k: {"from": a, "to": b} for k, (a, b) in changes.items()}
        if body.note:
            details["note"] = body.note
        return _Change(action, body.note or _describe(changes), details, notices)

    return _update(rt, number, actor, apply)


def comment(rt: Runtime, number: str, body: CommentIn, actor: str) -> Comment:
    """Add a comment; each `@address` in it is emailed the comment."""
    mentions = mentioned_addresses(body.text)
    added: list[Comment] = []

    def apply(request: Request) -> _Change:
        if len(request.comments) >= MAX_COMMENTS:
            raise Conflict(f"{request.number} has {MAX_COMMENTS} comments, the most it can hold")
        note = Comment(
            id=uuid.uuid4().hex[:12], author=actor, text=body.text, mentions=mentions,
            at=rt.clock.now(), public=body.public,
        )  # fmt: skip
        request.comments.append(note)
        added[:] = [note]
        return _Change(
            "request.commented", "comment", {"comment": note.id, "mentions": len(mentions), "public": body.public},
            lambda saved: notifications.commented(rt, saved, note), comment=note,
        )  # fmt: skip

    _update(rt, number, actor, apply)
    return added[0]


def create_task(rt: Runtime, number: str, body: TaskIn, actor: str) -> Task:
    """A task; with `create_orders` (invite/reset/remove requests) it also gets manual
    provisioning orders on the service's target for the request's accounts."""
    request = get(rt, number)
    _check_open(request)
    if body.create_orders:
        if request.category not in ORDER_CATEGORIES:
            raise InvalidInput(
                "only invite, reset and remove requests can create orders",
                [FieldError("create_orders", f"not for a request of category {request.category.value}")],
            )
        if not request.accounts:
            raise InvalidInput(
                "the request names no accounts to create orders for",
                [FieldError("create_orders", "the request has no accounts")],
            )
    task_id = uuid.uuid4().hex[:8]
    order_ids = _create_orders(rt, request, task_id, body, actor)
    created: list[Task] = []

    def apply(request: Request) -> _Change:
        _check_open(request)
        if len(request.tasks) >= MAX_TASKS:
            raise Conflict(f"{request.number} has {MAX_TASKS} tasks, the most it can hold")
        task = Task(
            id=task_id, title=body.title, assignee=body.assignee,
            order_ids=order_ids, created_at=rt.clock.now(),
        )  # fmt: skip
        request.tasks.append(task)
        created[:] = [task]
        details = {"task": task.id, "assignee": task.assignee, "orders": order_ids}
        return _Change(
            "request.task_created", body.title, details,
            lambda saved: notifications.task_assigned(rt, saved, task),
        )  # fmt: skip

    _update(rt, number, actor, apply)
    return created[0]


def change_task(rt: Runtime, number: str, task_id: str, body: TaskChange, actor: str) -> Task:
    """Assign (or unassign with `assignee: null`) or rename a task."""
    given = body.model_fields_set
    changed: list[Task] = []

    def apply(request: Request) -> _Change | None:
        _check_open(request)
        task = _open_task(request, task_id)
        changed[:] = [task]
        changes = {}
        if "title" in given and body.title and body.title != task.title:
            changes["title"] = {"from": task.title, "to": body.title}
            task.title = body.title
        if "assignee" in given and body.assignee != task.assignee:
            changes["assignee"] = {"from": task.assignee, "to": body.assignee}
            task.assignee = body.assignee
        if not changes:
            return None
        notices = (
            (lambda saved: notifications.task_assigned(rt, saved, saved.task(task_id)))
            if "assignee" in changes else (lambda saved: [])
        )  # fmt: skip
        return _Change("request.task_changed", f"task {task.id}", {"task": task.id, **changes}, notices)

    _update(rt, number, actor, apply)
    return changed[0]


def complete_task(rt: Runtime, number: str, task_id: str, actor: str) -> Task:
    """Complete a task (its orders, if any, must have been carried out); the requester is
    emailed what was done, cc the owner."""
    request = get(rt, number)
    _check_open(request)
    task = request.task(task_id)
    if task is None:
        raise NotFound(f"{number} has no task {task_id[:20]!r}")
    if task.state == TaskState.open and task.order_ids:
        _check_orders_done(rt, task)
    completed: list[Task] = []

    def apply(request: Request) -> _Change | None:
        _check_open(request)
        task = request.task(task_id)
        completed[:] = [task]
        if task.state == TaskState.completed:
            return None
        task.state = TaskState.completed
        task.completed_at = rt.clock.now()
        return _Change(
            "request.task_completed", f"task {task.id}", {"task": task.id, "title": task.title},
            lambda saved: notifications.task_completed(rt, saved, saved.task(task_id)),
        )  # fmt: skip

    _update(rt, number, actor, apply)
    return completed[0]


def mentioned_addresses(text: str) -> list[str]:
    """The addresses mentioned as `@someone@example.edu`, in order, once each."""
    found: dict[str, str] = {}
    for match in _MENTION.finditer(text):
        raw = match.group(1).rstrip(_TRAILING)
        try:
            address = _ADDRESS.validate_python(raw)
        except ValidationError:
            raise InvalidInput(
                f"@{raw[:60]} is not a valid address to mention",
                [FieldError("text", f"@{raw[:60]} is not a valid email address")],
            ) from None
        found.setdefault(address.casefold(), address)
    if len(found) > MAX_MENTIONS:
        raise InvalidInput(
            f"at most {MAX_MENTIONS} mentions per comment",
            [FieldError("text", f"mentions {len(found)} addresses; at most {MAX_MENTIONS}")],
        )
    return list(found.values())


# -- the requester's view -----------------------------------------------------------------


def requester_view(rt: Runtime, number: str, token: str) -> dict:
    """What the requester's link shows: the number, state, public comments, the accounts done.
    A wrong number or secret is the same 404, so the link reveals nothing else."""
    repo = RequestRepository(rt.store)
    stored = repo.get(number) if NUMBER.match(number) and token else None
    if stored is None or not hmac.compare_digest(repo.viewer_token(number).encode(), token.encode()):
        raise RequestNotFound("this link does not open a request: it may have been replaced by a newer one")
    request = stored.request
    return {
        "request": request,
        "comments": [c for c in request.comments if c.public],
        "done": accounts_done(rt, request),
        "service_name": notifications.service_name(rt, request.service),
    }


def accounts_done(rt: Runtime, request: Request) -> list[Account]:
    """The request's accounts whose worklist order was carried out; all of them once the
    request is Done or Closed (tasks without orders are done by hand)."""
    if request.state in (State.done, State.closed):
        return list(request.accounts)
    from shared.services import orders

    ids = [i for task in request.tasks for i in task.order_ids]
    done = {(o.account or "").casefold() for o in orders.orders_of(rt, ids) if o.state.value in DONE_ORDER_STATES}
    return [a for a in request.accounts if a.email.casefold() in done]


def renew_link(rt: Runtime, number: str, actor: str) -> str:
    """Replace the requester's link: the old one stops opening (revoked). Returns the new one."""
    get(rt, number)
    audit = audit_entity(number, rt.clock.now(), actor, "request.link_renewed",
                         "a new requester link; the old one no longer opens", {})
    RequestRepository(rt.store).renew_viewer_token(number, audit)
    return notifications.requester_link(rt, number)


# -- notifications ------------------------------------------------------------------------


def flush(rt: Runtime, repo: RequestRepository, number: str) -> None:
    """Send what a change left to send. Emails go to the `notification` queue and ticket
    events to `ticket-mirror` (the id makes a second publish a no-op), then are settled; a
    Teams post is taken first (deleted with its ETag), so two flushes never post twice."""
    for item in repo.pending(number):
        if item.kind in QUEUED:
            try:
                rt.bus.publish(rt.settings.queue(QUEUED[item.kind]), json.dumps(item.body), message_id=bus_id(item.id),
                               session_id=number if item.kind == "ticket" else None)
            except BusError:
                raise Busy(f"{number} is saved but its messages could not be queued yet; retry") from None
            repo.settle(number, item)
        elif repo.take(number, item):
            notifications.post_to_teams(rt.settings, item.body, number)


# -- helpers ------------------------------------------------------------------------------


@dataclass
class _Change:
    """What `apply` did: the audit action, why, details, and the notifications it causes."""

    action: str
    why: str
    details: dict
    notices: Callable[[Request], list[Pending]]
    comment: Comment | None = None


def _update(rt: Runtime, number: str, actor: str, apply: Callable[[Request], _Change | None]) -> Request:
    """Read, apply, write with the ETag (retrying on a concurrent change), then flush."""
    repo = RequestRepository(rt.store)

    def once() -> Request:
        stored = repo.get(number) if NUMBER.match(number) else None
        if stored is None:
            raise RequestNotFound(f"no request {number[:40]!r}")
        request = stored.request.model_copy(deep=True)
        done = apply(request)
        if done is None:
            return stored.request
        now = rt.clock.now()
        request.version += 1
        request.updated_at = now
        audit = audit_entity(number, now, actor, done.action, done.why, done.details, request.version)
        outbox = done.notices(request) + tickets.pending_for(rt, request, done.action, done.details)
        repo.replace(request, stored.etag, audit, outbox, comment=done.comment)
        repo.index(request)
        return request

    request = retrying(once, f"{number} is being changed by others; retry")
    flush(rt, repo, number)
    return request


def _check_transition(request: Request, target: State) -> None:
    allowed = TRANSITIONS[request.state]
    if target not in allowed:
        options = ", ".join(s.value for s in allowed) or "nothing: it is final"
        raise InvalidTransition(
            f"{request.number} cannot go from {request.state.value} to {target.value}; "
            f"from {request.state.value} it can go to {options}"
        )
    if target == State.done and request.open_tasks():
        titles = ", ".join(f"“{t.title}”" for t in request.open_tasks())
        raise InvalidTransition(f"{request.number} still has open tasks: {titles}")


def _check_open(request: Request) -> None:
    if request.state in FINAL:
        raise Conflict(f"{request.number} is {request.state.value}: its tasks cannot change")


def _open_task(request: Request, task_id: str) -> Task:
    task = request.task(task_id)
    if task is None:
        raise NotFound(f"{request.number} has no task {task_id[:20]!r}")
    if task.state == TaskState.completed:
        raise Conflict(f"task {task.id} of {request.number} is completed")
    return task


def _create_orders(rt: Runtime, request: Request, task_id: str, body: TaskIn, actor: str) -> list[str]:
    """Manual provisioning orders on the service's target, one call, before the task is saved."""
    if not (request.category in ORDER_CATEGORIES and body.create_orders):
        return []
    from shared.services import orders

    reason = f"request {request.number}, task {task_id}: {body.title}"
    return list(orders.create_manual_orders(rt, request.service, request.accounts, reason, actor, request.number))


def _check_orders_done(rt: Runtime, task: Task) -> None:
    """Conflict, in words (whose account, where, in which state), while an order is not done."""
    from shared.services import orders

    found = {o.id: o for o in orders.orders_of(rt, task.order_ids)}
    waiting = [found.get(i) for i in task.order_ids if i not in found or found[i].state.value not in DONE_ORDER_STATES]
    if waiting:
        summary = "; ".join(f"{o.account or 'an account'} is {o.state.value}" if o else "one order no longer exists"
                            for o in waiting[:10])
        raise Conflict(f"“{task.title}” cannot be completed yet: {len(waiting)} of its {len(task.order_ids)} "
                       f"worklist orders are not carried out ({summary})")


def _describe(changes: dict) -> str:
    return "; ".join(f"{k} {a or '-'} → {b or '-'}" for k, (a, b) in changes.items())
