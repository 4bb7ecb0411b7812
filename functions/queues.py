"""Service Bus plumbing shared by every queue trigger."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from functions.http import field_path
from shared import telemetry
from shared.errors import RosterError
from shared.matching.national_id import redacted
from shared.runtime import runtime
from shared.services import deadletters

log = logging.getLogger("roster.queues")
M = TypeVar("M", bound=BaseModel)
SPAN_IDS = ("person_id", "order_id", "request_id")  # pseudonymous ids a message names, put on its span


def consume(msg: func.ServiceBusMessage, queue: str, model: type[M], handle: Callable[[M], object]) -> None:
    """Parse the body into `model` and handle it, in a consumer span continuing the trace the
    message carries (shared/telemetry.py). Malformed input is dead-lettered at once
    with a reason (parked and completed), as is a body the service refuses (a 4xx domain
    error: retrying cannot help); any other exception propagates so the message comes back
    and, after the queue's max delivery count, lands in its dead-letter queue."""
    with _span(msg, queue) as span:
        body = _parsed(msg, queue, model, span)
        if body is None:
            return
        try:
            handle(body)
        except RosterError as error:
            if error.status >= 500:
                raise
            span.outcome = "parked"
            _park(msg, queue, "ValidationFailed", error.detail[:500])


def consume_many(msgs: list[func.ServiceBusMessage], queue: str, model: type[M],
                 handle: Callable[[list[M]], Mapping[int, RosterError]]) -> None:
    """A batch (`cardinality=many`): each message in its own consumer span continuing its
    own trace (the batch is handled within the last one's), each body parsed and a malformed
    one parked on its own; the valid ones handled together. `handle` returns, by position in
    the list it got, the bodies the service refused (4xx): those are parked, the batch
    completes. Any other exception propagates: the whole batch comes back (each handler is
    idempotent)."""
    with ExitStack() as spans:
        valid = []
        for msg in msgs:
            span = spans.enter_context(_span(msg, queue))
            body = _parsed(msg, queue, model, span)
            if body is not None:
                valid.append((msg, body, span))
        if not valid:
            return
        refused = handle([body for _, body, _ in valid])
        for position, error in refused.items():
            msg, _, span = valid[position]
            span.outcome = "parked"
            _park(msg, queue, "ValidationFailed", error.detail[:500])


def _span(msg: func.ServiceBusMessage, queue: str):
    """The consumer span of one message (shared/telemetry.py `handling`)."""
    return telemetry.handling(queue, msg.application_properties or msg.user_properties, message_id=msg.message_id,
                              delivery_count=msg.delivery_count, lag=_lag(msg))


def _parsed(msg: func.ServiceBusMessage, queue: str, model: type[M], span: telemetry.Recorder) -> M | None:
    """The body as `model`, its pseudonymous ids on the span; None once a malformed one is parked."""
    try:
        body = model.model_validate_json(msg.get_body())
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        reason = "MalformedJson" if first["type"] == "json_invalid" else "ValidationFailed"
        span.outcome = "parked"
        _park(msg, queue, reason, f"{field_path(first['loc'])}: {first['msg']}")
        return None
    span.set(**{name: getattr(body, name, None) for name in SPAN_IDS})
    return body


def _lag(msg: func.ServiceBusMessage) -> float | None:
    """Seconds from the message's enqueue (or due) time to now; None when telemetry is off."""
    if not telemetry.enabled():
        return None
    return telemetry.lag_of(_utc(msg.enqueued_time_utc), _utc(msg.scheduled_enqueue_time_utc), runtime().clock.now())


def _utc(at: datetime | None) -> datetime | None:
    """The host gives UTC instants, naive or not."""
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _park(msg: func.ServiceBusMessage, queue: str, reason: str, description: str) -> None:
    rt = runtime()
    log.warning("dead-lettered message %s on %s: %s", msg.message_id, queue, reason)
    deadletters.park(rt, queue, msg.message_id or "unknown", redacted(msg.get_body()), reason, description,
                     msg.delivery_count or 1)
