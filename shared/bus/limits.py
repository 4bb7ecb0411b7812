"""Service Bus's limits, checked by both adapters so that tests on the local bus catch what
Azure would refuse: message and session ids of at most 128 characters, and bodies of at
most `Settings.max_message_bytes` (256 KB, the Standard tier; the HTTP boundary uses the
same setting). Ids are built with `bus_id`, which keeps them within the limit."""

from __future__ import annotations

import hashlib

from shared.bus.port import Publication
from shared.errors import BodyTooLarge

MAX_ID_CHARS = 128  # MessageId and SessionId alike
_DIGEST_CHARS = 32


class MessageTooLarge(BodyTooLarge):
    """A body over the size limit: a 413 at the HTTP boundary, dead-lettered at once by a
    trigger (another delivery cannot make it smaller)."""


def bus_id(text: str) -> str:
    """`text` when it fits in 128 characters; otherwise its start, "~" and a digest of all
    of it, 128 characters in all — the same text always gives the same id."""
    if len(text) <= MAX_ID_CHARS:
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:_DIGEST_CHARS]
    return f"{text[: MAX_ID_CHARS - _DIGEST_CHARS - 1]}~{digest}"


def checked_body(publication: Publication, max_bytes: int) -> bytes:
    """The body of a message about to be sent, as bytes, once the message is known to be one
    Service Bus takes: a queue and an id, a tz-aware `scheduled_at`, the limits below."""
    if not publication.queue or not publication.message_id:
        raise ValueError("queue and message_id are required")
    if publication.scheduled_at is not None and publication.scheduled_at.tzinfo is None:
        raise ValueError("scheduled_at must be tz-aware")
    body = publication.body
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    check_message(data, publication.message_id, publication.session_id, max_bytes)
    return data


def check_message(data: bytes, message_id: str, session_id: str | None, max_bytes: int) -> None:
    """ValueError for an id Service Bus refuses (as its SDK words it), MessageTooLarge for
    a body over `max_bytes`."""
    if len(message_id) > MAX_ID_CHARS:
        raise ValueError(f"message_id cannot be longer than {MAX_ID_CHARS} characters.")
    if session_id and len(session_id) > MAX_ID_CHARS:
        raise ValueError(f"session_id cannot be longer than {MAX_ID_CHARS} characters.")
    if len(data) > max_bytes:
        raise MessageTooLarge(f"the message is {len(data)} bytes; the limit is {max_bytes}")
