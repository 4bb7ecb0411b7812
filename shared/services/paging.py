"""Paging of every list route: `limit` and the opaque `next` token, in one place.

A list answers `{"items": [...], "next": <token or null>}`. The token is base64url of a small
JSON document — the list's name, a digest of its filters and the cursor (the key the next page
starts from, inclusive) — followed by an HMAC-SHA256 of that document under a fixed application
constant. The HMAC is not a secret and protects nothing confidential: it detects a token that
was edited, truncated or made up, so a caller gets a 400 problem naming `next` instead of a
wrong page. A token is also refused (400, `next`) when it was issued by another list or for
other filters: the caller must pass the same filters with `?next=` (docs/api.md, "Paging").

`limit` is 1..`MAX_LIMIT` (default `DEFAULT_LIMIT`); anything else is a 422 naming `limit`.
A page is cut by `take`: the services read the store page by page and hand it `(cursor, item)`
pairs in list order; the cursor of the first item past the page becomes the next token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.errors import FieldError, InvalidInput, InvalidToken

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_TOKEN = 2000  # characters of `?next=`
# Not a secret: an integrity check against tampering and mix-ups (see the module docstring).
_KEY = b"roster.paging.v1"


@dataclass(frozen=True)
class Page:
    """What one list call asks for: the list, its filters, the size and where to start."""

    list_name: str
    filters: dict[str, Any]
    limit: int = DEFAULT_LIMIT
    cursor: Any = None

    def token(self, cursor: Any) -> str:
        """The `next` token that continues this list, with these filters, at `cursor`."""
        document = json.dumps({"l": self.list_name, "f": _digest(self.filters), "c": cursor},
                              separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(document)}.{_b64(_mac(document))}"

    def take(self, rows: Iterable[tuple[Any, Any]]) -> tuple[list, str | None]:
        """The first `limit` items of `rows` ((cursor, item) pairs in list order), and the token
        of the first one left over (None when the list ends here)."""
        items: list = []
        for cursor, item in rows:
            if len(items) == self.limit:
                return items, self.token(cursor)
            items.append(item)
        return items, None


def page(list_name: str, filters: dict[str, Any], limit: str | None = None, token: str | None = None) -> Page:
    """The page a caller asked for; InvalidInput (422, `limit`) for a limit out of bounds,
    InvalidToken (400, `next`) for a token forged, malformed or issued for other filters."""
    asked = Page(list_name, filters, parse_limit(limit))
    if not token:
        return asked
    return Page(list_name, filters, asked.limit, _cursor(asked, token))


def parse_limit(raw: str | None, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """`limit` as an int in 1..maximum; InvalidInput (422) naming `limit` otherwise."""
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise InvalidInput("limit is out of range", [FieldError("limit", f"an integer 1..{maximum}")])
    return int(raw)


def _cursor(asked: Page, token: str) -> Any:
    document = _verified(token)
    if document.get("l") != asked.list_name or document.get("f") != _digest(asked.filters):
        raise _refused("was issued for another list or other filters: pass the same filters")
    if document.get("c") is None:
        raise _refused("carries no position")
    return document["c"]


def _verified(token: str) -> dict:
    body, dot, mac = token.partition(".")
    try:
        document, signature = _unb64(body), _unb64(mac)
    except (binascii.Error, ValueError):
        raise _refused("is malformed") from None
    if not dot or not hmac.compare_digest(signature, _mac(document)):
        raise _refused("is not a token this list issued")
    try:
        parsed = json.loads(document)
    except ValueError:
        raise _refused("is malformed") from None
    if not isinstance(parsed, dict):
        raise _refused("is malformed")
    return parsed


def _refused(why: str) -> InvalidToken:
    return InvalidToken(f"the next token {why}", [FieldError("next", f"the token {why}")])


def _digest(filters: dict[str, Any]) -> str:
    canonical = json.dumps({k: v for k, v in filters.items() if v not in (None, "")}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _mac(document: bytes) -> bytes:
    return hmac.new(_KEY, document, hashlib.sha256).digest()[:16]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    if not text or not text.isascii():
        raise ValueError("empty")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
