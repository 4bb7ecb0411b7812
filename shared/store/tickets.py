"""How the ticket mirror remembers what it did (table `ticketlinks`).

- partition = the request number: row `workitem` {id, url, link}, rows `task|<task id>`
  {id, url}: the tracker's items for the request and its tasks;
- partition `workitems`, row = the work item id {number}: which request a hook is about;
- partition `hookevents`, row = the service hook's event id {at}: an event handled once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.store.keys import encode_key
from shared.store.port import Entity, EntityExists, TableStore

WORK_ITEM = "workitem"
TASK = "task|"
REVERSE = "workitems"
EVENTS = "hookevents"


@dataclass(frozen=True)
class Link:
    id: int
    url: str
    link: str = ""


class TicketLinkRepository:
    def __init__(self, store: TableStore):
        self.table = store.table("ticketlinks")

    def work_item(self, number: str) -> Link | None:
        return self._link(number, WORK_ITEM)

    def save_work_item(self, number: str, link: Link) -> None:
        self.table.upsert(Entity(REVERSE, str(link.id), {"number": number}))
        self.table.upsert(Entity(number, WORK_ITEM, {"id": link.id, "url": link.url, "link": link.link}))

    def task(self, number: str, task_id: str) -> Link | None:
        return self._link(number, f"{TASK}{encode_key(task_id)}")

    def save_task(self, number: str, task_id: str, link: Link) -> None:
        self.table.upsert(Entity(number, f"{TASK}{encode_key(task_id)}", {"id": link.id, "url": link.url,
                                                                           "link": link.link}))

    def number_of(self, item_id: int) -> str | None:
        entity = self.table.get(REVERSE, str(item_id))
        return entity.properties["number"] if entity else None

    def claim_event(self, event_id: str, at: datetime) -> bool:
        """True the first time an event id is seen."""
        try:
            self.table.insert(Entity(EVENTS, encode_key(event_id), {"at": at}))
        except EntityExists:
            return False
        return True

    def release_event(self, event_id: str) -> None:
        """Forget an event whose handling failed, so the tracker's retry is handled."""
        self.table.delete(EVENTS, encode_key(event_id))

    def _link(self, partition: str, row: str) -> Link | None:
        entity = self.table.get(partition, row)
        if entity is None:
            return None
        return Link(entity.properties["id"], entity.properties["url"], entity.properties.get("link", ""))
