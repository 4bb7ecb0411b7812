"""PartitionKey/RowKey encoding shared by both adapters, so stored keys are identical.

Table Storage refuses `/ \\ # ?` and control characters in keys. Those and `%` are
percent-encoded character by character (`%2F`), everything else is kept, so
`encode_key(prefix)` is a prefix of `encode_key(key)` exactly when `key` starts with `prefix`.
Order is that of the encoded keys: e.g. "a/" (`a%2F`) sorts before "a&".
"""

from __future__ import annotations

import re
from datetime import datetime

from .port import MAX_KEY_BYTES, InvalidEntity, PropertyTooLarge

_ESCAPED = [*range(0x20), *range(0x7F, 0xA0), *map(ord, "/\\#?%")]
_ENCODE = {code: f"%{code:02X}" for code in _ESCAPED}
_ESCAPE_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_SHORT = MAX_KEY_BYTES // 6  # characters of printable ASCII that fit however many are escaped


def encode_key(key: str, what: str = "key") -> str:
    """The stored form of a key; refuses non-str, lone surrogates and keys over 1 KiB."""
    if type(key) is str and len(key) <= _SHORT and key.isascii() and key.isprintable():
        # printable ASCII grows at most ×3 when escaped, two bytes a character: it fits
        if "/" in key or "\\" in key or "#" in key or "?" in key or "%" in key:
            return key.translate(_ENCODE)
        return key
    if not isinstance(key, str):
        raise InvalidEntity(f"{what} must be str, not {type(key).__name__}")
    encoded = key.translate(_ENCODE)
    try:
        size = len(encoded.encode("utf-16-le"))
    except UnicodeEncodeError:
        raise InvalidEntity(f"{what} holds a lone surrogate") from None
    if size > MAX_KEY_BYTES:
        raise PropertyTooLarge(f"{what} is {size} bytes encoded (UTF-16), over {MAX_KEY_BYTES}")
    return encoded


def decode_key(encoded: str) -> str:
    """The key as given to `encode_key`."""
    if "%" not in encoded:
        return encoded
    return _ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), encoded)


def prefix_end(encoded_prefix: str) -> str | None:
    """Smallest string above every string with this prefix, in code-point order (SQLite)."""
    chars = list(encoded_prefix)
    while chars:
        code = ord(chars.pop())
        if code < 0x10FFFF:
            code += 1
            return "".join(chars) + chr(0xE000 if 0xD800 <= code <= 0xDFFF else code)
    return None


def prefix_end_utf16(encoded_prefix: str) -> str | None:
    """Smallest string above every string with this prefix, in UTF-16 code-unit order (Azure)."""
    data = encoded_prefix.encode("utf-16-le")
    units = [int.from_bytes(data[i : i + 2], "little") for i in range(0, len(data), 2)]
    while units and units[-1] == 0xFFFF:
        units.pop()
    if not units:
        return None
    unit = units.pop() + 1
    if 0xD800 <= unit <= 0xDBFF:
        units += [0xD800, 0xDC00]
    elif unit == 0xE000 and units and 0xD800 <= units[-1] <= 0xDBFF:
        high = units.pop() + 1
        units += [high, 0xDC00] if high <= 0xDBFF else [0xE000]
    else:
        units.append(unit)
    return b"".join(u.to_bytes(2, "little") for u in units).decode("utf-16-le")


def instant_key(at: datetime) -> str:
    """`at.strftime("%Y%m%dT%H%M%S.%fZ")`, the sortable instant row keys begin with (its own
    fields, whatever its zone), formatted without strftime for the four-digit years."""
    if at.year < 1000:  # strftime writes such a year without padding
        return at.strftime("%Y%m%dT%H%M%S.%fZ")
    return (f"{at.year}{at.month:02d}{at.day:02d}T{at.hour:02d}{at.minute:02d}{at.second:02d}"
            f".{at.microsecond:06d}Z")
