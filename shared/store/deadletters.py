"""Messages a trigger refused as malformed: kept with the reason, not retried.

Python triggers cannot dead-letter a Service Bus message themselves, so a malformed
message is recorded here and completed; transient failures still go through redelivery
and the queue's own dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from shared.store.port import Entity, TableStore
from shared.store.scan import scan

MAX_BODY_CHARS = 30_000


class DeadLetterRepository:
    def __init__(self, store: TableStore):
        self.table = store.table("deadletters")

    def park(
        self, queue: str, message_id: str, body: bytes, reason: str, description: str, at: datetime,
        delivery_count: int = 1,
    ) -> None:
        text = body.decode("utf-8", errors="replace")[:MAX_BODY_CHARS]
        self.table.upsert(
            Entity(
                queue,
                message_id,
                {
                    "reason": reason,
                    "description": description[:4000],
                    "body": text,
                    "delivery_count": delivery_count,
                    "at": at,
                },
            )
        )

    def list(self, queue: str, limit: int = 100) -> Iterator[dict]:
        for entity in self.table.query(queue, limit=limit):
            yield {"queue": queue, "message_id": entity.row_key, **entity.properties}

    def list_from(self, queue: str, start: str | None, chunk: int) -> Iterator[tuple[str, dict]]:
        """(message id, parked message) of `queue` from `start` on, read `chunk` rows at a time."""
        for entity in scan(self.table, queue, start=start, chunk=chunk):
            yield entity.row_key, {"queue": queue, "message_id": entity.row_key, **entity.properties}
