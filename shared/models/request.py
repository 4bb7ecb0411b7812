"""The request desk (docs/architecture.md §5, Request): what the Power Automate flow sends, the
request it becomes, and what staff change on it.

`RequestSubmission` is the flow's contract (docs/power-automate.md): version 1; fields are
added compatibly, anything incompatible becomes version 2.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, EmailStr, Field, StringConstraints

from shared.models.base import Line, Model, one_line, plain_text

CONTRACT_VERSION = 1
MAX_ACCOUNTS = 100
MAX_DETAILS = 8000
MAX_COMMENT = 8000
MAX_MENTIONS = 20
NUMBER = re.compile(r"^REQ-\d{6,}$")
Text = Annotated[str, StringConstraints(max_length=MAX_DETAILS), AfterValidator(plain_text)]
Service = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
FormResponseId = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(one_line)
]
Note = Annotated[str, StringConstraints(max_length=2000), AfterValidator(plain_text)]


class Category(StrEnum):
    invite = "invite"
    reset = "reset"
    remove = "remove"
    other = "other"


class AccountAction(StrEnum):
    """What is done to one account; the completion email groups accounts by it."""

    add = "add"
    reset = "reset"
    remove = "remove"
    change = "change"


DEFAULT_ACTION = {
    Category.invite: AccountAction.add,
    Category.reset: AccountAction.reset,
    Category.remove: AccountAction.remove,
    Category.other: AccountAction.change,
}


class State(StrEnum):
    new = "New"
    in_planning = "InPlanning"
    in_progress = "InProgress"
    done = "Done"
    closed = "Closed"
    rejected = "Rejected"


# Where each state may go next; anything else is refused (409).
TRANSITIONS: dict[State, tuple[State, ...]] = {
    State.new: (State.in_planning, State.rejected),
    State.in_planning: (State.in_progress, State.rejected),
    State.in_progress: (State.done, State.in_planning, State.rejected),
    State.done: (State.closed, State.in_progress),
    State.closed: (),
    State.rejected: (),
}
FINAL = (State.closed, State.rejected)


class Requester(Model):
    email: EmailStr
    name: Line


class AccountIn(Model):
    """One account the request is about; `action` defaults from the request's category."""

    email: EmailStr
    name: Line
    action: AccountAction | None = None


class Account(Model):
    email: EmailStr
    name: Line
    action: AccountAction


class RequestSubmission(Model):
    """A Microsoft Forms response as the Power Automate flow posts it (contract version 1)."""

    version: Literal[1] = CONTRACT_VERSION
    form_response_id: FormResponseId
    submitted_at: AwareDatetime
    requester: Requester
    service: Service
    category: Category
    details: Text = ""
    accounts: list[AccountIn] = Field(default_factory=list, max_length=MAX_ACCOUNTS)

    def resolved_accounts(self) -> list[Account]:
        default = DEFAULT_ACTION[self.category]
        return [
            Account(email=a.email, name=a.name, action=a.action or default) for a in self.accounts
        ]


class RequesterRef(Requester):
    person_id: str | None = None


class Comment(Model):
    id: str
    author: str
    text: str
    mentions: list[EmailStr] = Field(default_factory=list)
    at: AwareDatetime
    public: bool = False  # shown on the requester's page (and emailed to the requester)


class TaskState(StrEnum):
    open = "Open"
    completed = "Completed"


class Task(Model):
    id: str
    title: str
    state: TaskState = TaskState.open
    assignee: EmailStr | None = None
    order_ids: list[str] = Field(default_factory=list)
    created_at: AwareDatetime
    completed_at: AwareDatetime | None = None


class Request(Model):
    number: str
    form_response_id: str
    submitted_at: AwareDatetime
    requester: RequesterRef
    service: str
    category: Category
    details: str = ""
    accounts: list[Account] = Field(default_factory=list)
    state: State = State.new
    owner: EmailStr | None = None
    comments: list[Comment] = Field(default_factory=list)
    tasks: list[Task] = Field(default_factory=list)
    created_at: AwareDatetime
    updated_at: AwareDatetime
    version: int = 1

    def task(self, task_id: str) -> Task | None:
        return next((t for t in self.tasks if t.id == task_id), None)

    def open_tasks(self) -> list[Task]:
        return [t for t in self.tasks if t.state == TaskState.open]


class RequestView(Request):
    """A request as the API returns it: with the link its emails carry."""

    link: str


class Receipt(Model):
    """What the flow gets back: the same receipt for every retry of one form response."""

    number: str
    state: State
    link: str
    requester_link: str  # the page the requester can open (no sign-in)
    form_response_id: str
    created_at: AwareDatetime


class RequestChange(Model):
    """PATCH /requests/{number}: a field left out is unchanged; `owner: null` clears it."""

    state: State | None = None
    owner: EmailStr | None = None
    note: Note | None = None


class CommentIn(Model):
    """A comment; `@someone@example.edu` in the text mentions (and emails) that address."""

    text: Annotated[
        str, StringConstraints(min_length=1, max_length=MAX_COMMENT), AfterValidator(plain_text)
    ]
    public: bool = False


class TaskIn(Model):
    title: Line
    assignee: EmailStr | None = None
    create_orders: bool = False


class TaskChange(Model):
    """PATCH /requests/{number}/tasks/{id}: assign (or unassign with null), rename."""

    title: Line | None = None
    assignee: EmailStr | None = None
