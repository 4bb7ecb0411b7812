"""Messages a queue trigger refused (malformed, or a request the service refuses): kept
with the reason, listed for operators (`GET /api/deadletters`), never retried on their own."""

from __future__ import annotations

from shared.config import QUEUE_SETTINGS
from shared.errors import FieldError, InvalidInput
from shared.runtime import Runtime
from shared.services.paging import Page
from shared.store.deadletters import DeadLetterRepository

LIST_LIMIT = 100


def park(rt: Runtime, queue: str, message_id: str, body: bytes, reason: str, description: str,
         delivery_count: int = 1) -> None:
    """Keep a refused message of `queue` with why it was refused."""
    DeadLetterRepository(rt.store).park(queue, message_id, body, reason, description, rt.clock.now(), delivery_count)


def parked(rt: Runtime, queue: str, limit: int = LIST_LIMIT) -> list[dict]:
    """The refused messages of `queue`, with reason, description, body and time; InvalidInput
    (422) for a queue Roster does not have."""
    check_queue(queue)
    return list(DeadLetterRepository(rt.store).list(queue, limit))


def parked_page(rt: Runtime, queue: str, page: Page) -> tuple[list[dict], str | None]:
    """One page of `parked`, read from the queue's partition page by page (message id order)."""
    check_queue(queue)
    return page.take(DeadLetterRepository(rt.store).list_from(queue, page.cursor, page.limit + 1))


def check_queue(queue: str) -> None:
    """InvalidInput (422, `queue`) for a queue Roster does not have."""
    if queue not in QUEUE_SETTINGS:
        raise InvalidInput("unknown queue", [FieldError("queue", f"one of {', '.join(QUEUE_SETTINGS)}")])
