"""Nested values stored as JSON split over string properties `doc`, `doc_1`, ... `doc_parts`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .port import InvalidEntity, PropertyTooLarge
from .validation import check_name

PART_UNITS = 30_000  # UTF-16 code units per property: 60,000 bytes, under the 64 KiB limit
MAX_DOCUMENT_BYTES = 900 * 1024  # UTF-16, leaving room for the entity's other properties


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _dumps(value: Any) -> str:
    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise InvalidEntity(f"not JSON-serialisable: {exc}") from None
    if text.isascii():
        return text
    try:
        text.encode("utf-16-le")
    except UnicodeEncodeError:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text


def _split(text: str) -> list[str]:
    parts, index = [], 0
    while index < len(text):
        chunk = text[index : index + PART_UNITS]
        units = len(chunk.encode("utf-16-le")) // 2
        while units > PART_UNITS:
            chunk = chunk[: len(chunk) - (units - PART_UNITS + 1) // 2]
            units = len(chunk.encode("utf-16-le")) // 2
        parts.append(chunk)
        index += len(chunk)
    return parts


def pack_json(value: Any, name: str = "doc") -> dict[str, Any]:
    """Properties `name`, `name_1`, ... (each ≤ 30,000 UTF-16 units) and `name_parts`."""
    check_name(f"{name}_parts")
    text = _dumps(value)
    size = 2 * len(text) if text.isascii() else len(text.encode("utf-16-le"))
    if size > MAX_DOCUMENT_BYTES:
        raise PropertyTooLarge(f"{name!r}: JSON of {size} bytes (UTF-16) over {MAX_DOCUMENT_BYTES}")
    parts = [text] if size <= 2 * PART_UNITS else _split(text)
    packed: dict[str, Any] = {name if i == 0 else f"{name}_{i}": p for i, p in enumerate(parts)}
    packed[f"{name}_parts"] = len(parts)
    return packed


def unpack_json(properties: Mapping[str, Any], name: str = "doc") -> Any:
    """The value given to `pack_json`; KeyError if a part is missing."""
    count = properties.get(f"{name}_parts", 1)
    return json.loads("".join(properties[name if i == 0 else f"{name}_{i}"] for i in range(count)))
