"""The `outbox` mailer: emails are stored, not sent (one machine, demos, tests)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from shared.clock import Clock
from shared.mail.port import Mailer
from shared.models.messages import Email
from shared.store import Entity, TableStore, pack_json, unpack_json
from shared.store.keys import instant_key
from shared.store.scan import scan

PARTITION = "outbox"


class OutboxMailer(Mailer):
    def __init__(self, store: TableStore, clock: Clock, sender: str):
        self._table = store.table("outbox")
        self._clock = clock
        self._sender = sender

    def send(self, email: Email) -> None:
        at = self._clock.now()
        row_key = f"{instant_key(at)}|{uuid.uuid4().hex}"
        record = {"from": self._sender, "sent_at": at.isoformat(), **email.model_dump(mode="json")}
        self._table.insert(Entity(PARTITION, row_key, pack_json(record)))

    def sent(self, limit: int | None = None) -> Iterator[dict]:
        """Stored emails, oldest first."""
        for entity in self._table.query(PARTITION, limit=limit):
            yield unpack_json(entity.properties)

    def sent_from(self, start: str | None, chunk: int) -> Iterator[tuple[str, dict]]:
        """(row key, stored email) from `start` on, oldest first, read `chunk` rows at a time."""
        for entity in scan(self._table, PARTITION, start=start, chunk=chunk):
            yield entity.row_key, unpack_json(entity.properties)
