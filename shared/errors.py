"""Domain errors. `functions/` maps each type once to an RFC 9457 problem document."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class RosterError(Exception):
    """Base: `status` and `title` say how it reaches an HTTP caller."""

    status = 400
    title = "Bad request"
    slug = "bad-request"

    def __init__(self, detail: str, errors: list[FieldError] | None = None, **extra: object):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra  # more members of the problem document, e.g. current_state


class InvalidInput(RosterError):
    status, title, slug = 422, "Invalid input", "invalid-input"


class MalformedBody(RosterError):
    status, title, slug = 400, "Malformed body", "malformed-body"


class BodyTooLarge(RosterError):
    status, title, slug = 413, "Body too large", "body-too-large"


class DocumentTooLarge(BodyTooLarge):
    """What the input would make is over the store's limits: refused before any write."""


class NotAuthenticated(RosterError):
    status, title, slug = 401, "Not authenticated", "not-authenticated"


class NotAllowed(RosterError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(RosterError):
    status, title, slug = 404, "Not found", "not-found"


class PersonNotFound(NotFound):
    pass


class Conflict(RosterError):
    status, title, slug = 409, "Conflict", "conflict"


class Busy(RosterError):
    """Contention that did not resolve in a few retries; safe to retry later."""

    status, title, slug = 503, "Busy, retry", "busy"
