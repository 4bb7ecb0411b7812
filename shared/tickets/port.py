"""The ticket-mirror port: where a request desk's tickets are kept in step (docs/request-desk.md).

The service (shared/services/tickets.py) decides what to mirror and keeps every step
idempotent; an adapter only speaks the tracker's API. Adapters: `none` (the default: nothing
is mirrored) and `azure_devops` (Azure Boards work items over its REST API).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from shared.tickets.settings import DevOpsSettings


@dataclass(frozen=True)
class WorkItem:
    id: int
    rev: int
    url: str  # the API URL, used in relations
    link: str  # where a person opens it
    state: str
    tags: tuple[str, ...] = ()
    children: tuple[str, ...] = ()  # API URLs of linked children
    fields: dict = field(default_factory=dict)


class TicketError(Exception):
    """The tracker failed in a way another attempt may cure; `retry_after` its own wish (s)."""

    def __init__(self, note: str, retry_after: float | None = None):
        super().__init__(note)
        self.note = note
        self.retry_after = retry_after


class TicketRefused(Exception):
    """The tracker refused the call for good (permission, unknown state): not retried."""


class StaleRevision(TicketError):
    """The work item changed since it was read (the `/rev` test failed): read it again."""


class Tracker(Protocol):
    enabled: bool
    settings: DevOpsSettings  # states, task states, identities, work item type

    def find(self, tag: str) -> WorkItem | None:
        """The work item carrying `tag`, if any (how a retry finds what it created)."""

    def get(self, item_id: int) -> WorkItem: ...

    def create(self, kind: str, fields: dict[str, str], tags: list[str]) -> WorkItem: ...

    def set_state(self, item: WorkItem, state: str) -> WorkItem:
        """Change the state, guarded by the item's revision (StaleRevision when it moved)."""

    def link_child(self, parent: WorkItem, child: WorkItem) -> WorkItem: ...

    def comments(self, item_id: int) -> list[str]:
        """The texts of the item's comments."""

    def add_comment(self, item_id: int, html: str) -> None: ...


class NoTracker:
    """`ROSTER_TICKETS=none`: nothing is mirrored, and nothing asks to be."""

    enabled = False
