"""National / social-security numbers: checked, normalised, and kept only as a keyed hash.

The clear number is never stored, logged or returned: on arrival it becomes
HMAC-SHA256(key, normalised number), the key coming from the setting
ROSTER_NATIONAL_ID_KEY (a Key Vault reference in Azure). Equal numbers give equal hashes
under one key, which is all the matcher needs; without the key a hash reveals nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_SEPARATORS = re.compile(r"[\s.\-/]")
_FORM = re.compile(r"^[0-9A-Z]{4,20}$")
HASH = re.compile(r"^[0-9a-f]{64}$")
_IN_JSON = re.compile(rb'("national_id"\s*:\s*)"(?:[^"\\]|\\.)*"')


def normalised(value: str) -> str:
    """Separators (spaces, dots, hyphens, slashes) dropped, letters upper-cased; ValueError
    unless 4–20 letters and digits remain, with at least one digit."""
    plain = _SEPARATORS.sub("", value).upper()
    if not _FORM.match(plain) or not any(c.isdigit() for c in plain):
        raise ValueError("a national id is 4 to 20 letters and digits (separators . - / and spaces allowed)")
    return plain


def keyed_hash(value: str, key: str) -> str:
    return hmac.new(key.encode(), normalised(value).encode(), hashlib.sha256).hexdigest()


def redacted(body: bytes) -> bytes:
    """A JSON message body with any clear national id replaced (before it is parked)."""
    return _IN_JSON.sub(rb'\1"[redacted]"', body)
