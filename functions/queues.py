"""Service Bus plumbing shared by every queue trigger."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from functions.http import field_path
from shared.errors import RosterError
from shared.matching.national_id import redacted
from shared.runtime import runtime
from shared.services import deadletters

log = logging.getLogger("roster.queues")
M = TypeVar("M", bound=BaseModel)


def consume(msg: func.ServiceBusMessage, queue: str, model: type[M], handle: Callable[[M], object]) -> None:
    """Parse the body into `model` and handle it. Malformed input is dead-lettered at once
    with a reason (parked and completed), as is a body the service refuses (a 4xx domain
    error: retrying cannot help); any other exception propagates so the message comes back
    and, after the queue's max delivery count, lands in its dead-letter queue."""
    body = _parsed(msg, queue, model)
    if body is None:
        return
    try:
        handle(body)
    except RosterError as error:
        if error.status >= 500:
            raise
        _park(msg, queue, "ValidationFailed", error.detail[:500])


def consume_many(msgs: list[func.ServiceBusMessage], queue: str, model: type[M],
                 handle: Callable[[list[M]], Mapping[int, RosterError]]) -> None:
    """A batch (`cardinality=many`): each body parsed, a malformed one parked on its own;
    the valid ones handled together. `handle` returns, by position in the list it got, the
    bodies the service refused (4xx): those are parked, the batch completes. Any other
    exception propagates: the whole batch comes back (each handler is idempotent)."""
    parsed = [(msg, _parsed(msg, queue, model)) for msg in msgs]
    valid = [(msg, body) for msg, body in parsed if body is not None]
    if not valid:
        return
    refused = handle([body for _, body in valid])
    for position, error in refused.items():
        _park(valid[position][0], queue, "ValidationFailed", error.detail[:500])


def _parsed(msg: func.ServiceBusMessage, queue: str, model: type[M]) -> M | None:
    """The body as `model`, or None once a malformed one is parked."""
    try:
        return model.model_validate_json(msg.get_body())
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        reason = "MalformedJson" if first["type"] == "json_invalid" else "ValidationFailed"
        _park(msg, queue, reason, f"{field_path(first['loc'])}: {first['msg']}")
        return None


def _park(msg: func.ServiceBusMessage, queue: str, reason: str, description: str) -> None:
    rt = runtime()
    log.warning("dead-lettered message %s on %s: %s", msg.message_id, queue, reason)
    deadletters.park(rt, queue, msg.message_id or "unknown", redacted(msg.get_body()), reason, description,
                     msg.delivery_count or 1)
