"""Service Bus plumbing shared by every queue trigger."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from functions.http import field_path
from shared.errors import RosterError
from shared.matching.national_id import redacted
from shared.runtime import runtime
from shared.store.deadletters import DeadLetterRepository

log = logging.getLogger("roster.queues")
M = TypeVar("M", bound=BaseModel)


def consume(msg: func.ServiceBusMessage, queue: str, model: type[M], handle: Callable[[M], object]) -> None:
    """Parse the body into `model` and handle it. Malformed input is dead-lettered at once
    with a reason (parked and completed), as is a body the service refuses (a 4xx domain
    error: retrying cannot help); any other exception propagates so the message comes back
    and, after the queue's max delivery count, lands in its dead-letter queue."""
    try:
        body = model.model_validate_json(msg.get_body())
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        reason = "MalformedJson" if first["type"] == "json_invalid" else "ValidationFailed"
        _park(msg, queue, reason, f"{field_path(first['loc'])}: {first['msg']}")
        return
    try:
        handle(body)
    except RosterError as error:
        if error.status >= 500:
            raise
        _park(msg, queue, "ValidationFailed", error.detail[:500])


def _park(msg: func.ServiceBusMessage, queue: str, reason: str, description: str) -> None:
    rt = runtime()
    log.warning("dead-lettered message %s on %s: %s", msg.message_id, queue, reason)
    DeadLetterRepository(rt.store).park(
        queue, msg.message_id or "unknown", redacted(msg.get_body()), reason, description, rt.clock.now(),
        msg.delivery_count or 1,
    )
