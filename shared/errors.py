"""Domain errors. `functions/` maps each type once to an RFC 9457 problem document."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

_TYPE_TAGS = {"constrained-str", "str", "int", "float", "bool", "date", "datetime", "none"}


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


class InvalidToken(RosterError):
    """A paging token (`?next=`) forged, malformed, or issued for another list or other filters."""

    status, title, slug = 400, "Invalid paging token", "invalid-next"


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


class TooManyRequests(RosterError):
    """Over a configured rate; `retry_after` (seconds) becomes the Retry-After header."""

    status, title, slug = 429, "Too many requests", "too-many-requests"

    def __init__(self, detail: str, retry_after: int):
        super().__init__(detail, retry_after=retry_after)


class Busy(RosterError):
    """Contention that did not resolve in a few retries; safe to retry later."""

    status, title, slug = 503, "Busy, retry", "busy"


def invalid(error: ValidationError) -> InvalidInput:
    """Pydantic's errors as problem fields, e.g. `affiliations[0].end`."""
    seen: dict[str, str] = {}
    for item in error.errors(include_url=False):
        path = field_path(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        seen.setdefault(path, message)
    errors = [FieldError(f, m) for f, m in seen.items()]
    first = errors[0]
    return InvalidInput(f"{first.field}: {first.message}", errors)


def field_path(loc: tuple) -> str:
    """`affiliations[0].end`; a refused dict key is not echoed (`attributes`, not the key)."""
    path = ""
    for index, part in enumerate(loc):
        if loc[index + 1 : index + 2] == ("[key]",):
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in _TYPE_TAGS and "[" not in str(part):
            path += f".{part}" if path else str(part)
    return path or "body"


class TargetUnreachable(RosterError):
    """A target system could not be read (reconciliation); the detail names the fault."""

    status, title, slug = 502, "Target unreachable", "target-unreachable"


def parse_json(raw: bytes | str, what: str = "the body") -> Any:
    """`raw` as JSON, or MalformedBody (400) saying why: not JSON (NaN and Infinity, which
    Python's reader would take, are not JSON: RFC 8259 §6), not UTF-8, nested too deeply."""
    try:
        return json.loads(raw, parse_constant=not_json_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBody(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedBody(f"{what} is nested too deeply") from None


def not_json_constant(constant: str) -> Any:
    """For `json.loads(parse_constant=...)`: NaN and Infinity refused (ValueError), as RFC 8259 has no such numbers."""
    raise ValueError(f"{constant} is not a JSON number")
