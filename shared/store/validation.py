"""Checks both adapters run before writing, so they refuse exactly the same entities."""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from .keys import encode_key
from .port import (
    BATCH_PART_BYTES,
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    MAX_BATCH,
    MAX_BATCH_BYTES,
    MAX_BINARY_BYTES,
    MAX_ENTITY_BYTES,
    MAX_PROPERTIES,
    MAX_STRING_BYTES,
    BatchFailed,
    BatchTooLarge,
    Entity,
    InvalidEntity,
    Op,
    PropertyTooLarge,
    StoreError,
    utc,
)

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_TABLE_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")
_RESERVED = frozenset({"PartitionKey", "RowKey", "Timestamp", "etag"})
_MIN_DATETIME = datetime(1601, 1, 1, tzinfo=UTC)
_KINDS = ("insert", "upsert", "replace", "delete")
_GOOD_NAMES: set[str] = set()
_ASCII_FITS = MAX_STRING_BYTES // 2  # an ASCII string this long or shorter fits (2 bytes a character)


def check_table_name(name: str) -> str:
    """A Table Storage table name: a letter, then letters/digits, 3-63 characters."""
    if not isinstance(name, str) or not _TABLE_RE.fullmatch(name) or name.lower() == "tables":
        raise ValueError(f"invalid table name {name!r}: a letter then letters/digits, 3-63 chars")
    return name


def check_name(name: str) -> str:
    """A property name: letters, digits and underscore, not reserved, at most 255 chars."""
    if name in _GOOD_NAMES:
        return name
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name in _RESERVED:
        raise InvalidEntity(f"invalid property name {name!r}")
    if len(_GOOD_NAMES) < 4096:  # the names Roster writes are few: checked once each
        _GOOD_NAMES.add(name)
    return name


def check_value(name: str, value: Any) -> Any:
    """The value as stored (plain types, UTC datetimes), or InvalidEntity/PropertyTooLarge."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise PropertyTooLarge(f"property {name!r}: int outside Int64")
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        value = str.__str__(value)
        if value.isascii() and len(value) <= _ASCII_FITS:
            return value  # two bytes a character in UTF-16: fits
        try:
            size = len(value.encode("utf-16-le"))
        except UnicodeEncodeError:
            raise InvalidEntity(f"property {name!r}: string holds a lone surrogate") from None
        if size > MAX_STRING_BYTES:
            raise PropertyTooLarge(
                f"property {name!r}: string of {size} bytes (UTF-16) over {MAX_STRING_BYTES}"
            )
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        if len(value) > MAX_BINARY_BYTES:
            raise PropertyTooLarge(
                f"property {name!r}: {len(value)} bytes of binary over {MAX_BINARY_BYTES}"
            )
        return value
    if isinstance(value, datetime):
        return _check_datetime(name, value)
    if isinstance(value, (dict, list, set, frozenset, tuple)):
        raise InvalidEntity(f"property {name!r}: nested {type(value).__name__}; use pack_json")
    raise InvalidEntity(f"property {name!r}: unsupported type {type(value).__name__}")


def _check_datetime(name: str, value: datetime) -> datetime:
    try:
        value = utc(value)
    except InvalidEntity as exc:
        raise InvalidEntity(f"property {name!r}: {exc}") from None
    except OverflowError:
        raise InvalidEntity(f"property {name!r}: datetime out of range") from None
    if value < _MIN_DATETIME:
        raise InvalidEntity(f"property {name!r}: datetime before 1601-01-01 UTC")
    return datetime.combine(value.date(), value.time(), UTC)


def check_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    """Validated, normalised properties; None values are dropped."""
    return _sized_properties(properties)[0]


def _sized_properties(properties: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """`check_properties` and the bytes Table Storage counts for them, in one pass. The
    common values — ASCII strings that fit whatever their size, ints within Int32, floats,
    UTC datetimes — take a short path with the same outcome as `check_value`/`value_size`."""
    clean, size = {}, 0
    for name, value in properties.items():
        if value is None:
            continue
        if name not in _GOOD_NAMES:
            check_name(name)
        kind = type(value)
        if kind is str and len(value) <= _ASCII_FITS and value.isascii():
            size += 12 + 2 * len(name) + 2 * len(value)
        elif kind is int and INT32_MIN <= value <= INT32_MAX:
            size += 12 + 2 * len(name)
        elif kind is float or (kind is datetime and value.tzinfo is UTC and not value.fold and value >= _MIN_DATETIME):
            size += 16 + 2 * len(name)
        else:
            value = check_value(name, value)
            size += 8 + 2 * len(name) + value_size(value)
        clean[name] = value
    if len(clean) > MAX_PROPERTIES:
        raise PropertyTooLarge(f"{len(clean)} properties, over {MAX_PROPERTIES}")
    return clean, size


def utf16_bytes(text: str) -> int:
    """Bytes of `text` in UTF-16 (two a character for ASCII, counted without encoding)."""
    return 2 * len(text) if text.isascii() else len(text.encode("utf-16-le"))


def value_size(value: Any) -> int:
    """Bytes Table Storage counts for a value."""
    if isinstance(value, str):
        return 4 + utf16_bytes(value)
    if isinstance(value, bytes):
        return 4 + len(value)
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return 4 if -(2**31) <= value < 2**31 else 8
    return 8


def entity_size(pk: str, rk: str, properties: Mapping[str, Any]) -> int:
    """Table Storage's size estimate of an entity (encoded keys, normalised properties)."""
    size = 4 + utf16_bytes(pk + rk)
    return size + sum(8 + 2 * len(n) + value_size(v) for n, v in properties.items())


def _wire_value(value: Any) -> tuple[str | None, Any]:
    """(OData type annotation, JSON value) as azure-data-tables 12.7 serialises a value."""
    if isinstance(value, bool):
        return None, value
    if isinstance(value, int):
        return (None, value) if -(2**31) <= value < 2**31 else ("Edm.Int64", str(value))
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "Edm.Double", "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return "Edm.Double", value
    if isinstance(value, datetime):
        return "Edm.DateTime", value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, bytes):
        return "Edm.Binary", base64.b64encode(value).decode("ascii")
    return "Edm.String", str(value)


def wire_body(pk: str, rk: str, properties: Mapping[str, Any]) -> bytes:
    """The JSON body Table Storage receives for an insert/upsert/replace of this entity:
    type annotations, binary in base64, non-ASCII as \\uXXXX escapes (up to 3x the
    UTF-16 estimate). Test-checked against the bytes azure-data-tables sends."""
    body: dict[str, Any] = {}
    for name, value in {"PartitionKey": pk, "RowKey": rk, **properties}.items():
        edm, body[name] = _wire_value(value)
        if edm:
            body[f"{name}@odata.type"] = edm
    return json.dumps(body).encode("ascii")


def part_size(kind: str, pk: str, rk: str, properties: Mapping[str, Any]) -> int:
    """Bytes one operation adds to a transaction's request body: its JSON (none for a
    delete), its keys in the request line, and the part's headers."""
    body = 0 if kind == "delete" else len(wire_body(pk, rk, properties))
    return BATCH_PART_BYTES + len(quote(pk, safe="")) + len(quote(rk, safe="")) + body


def check_entity(entity: Entity) -> tuple[str, str, dict[str, Any]]:
    """Encoded keys and clean properties of an entity fit for Table Storage."""
    return _sized_entity(entity)[:3]


def _sized_entity(entity: Entity) -> tuple[str, str, dict[str, Any], int]:
    """`check_entity` and the entity's size (Table Storage's estimate, as `entity_size`)."""
    pk = encode_key(entity.partition_key, "PartitionKey")
    rk = encode_key(entity.row_key, "RowKey")
    properties, size = _sized_properties(entity.properties)
    size += 4 + utf16_bytes(pk + rk)
    if size > MAX_ENTITY_BYTES:
        raise PropertyTooLarge(f"entity of about {size} bytes, over {MAX_ENTITY_BYTES}")
    return pk, rk, properties, size


def check_batch(partition_key: str, ops: list[Op]) -> list[tuple[str, str, dict[str, Any]]]:
    """Encoded keys and clean properties per operation; BatchTooLarge or BatchFailed."""
    if len(ops) > MAX_BATCH:
        raise BatchTooLarge(f"batch of {len(ops)} operations, over {MAX_BATCH}")
    checked, seen, bound = [], set(), 0
    for index, op in enumerate(ops):
        try:
            if op.kind not in _KINDS:
                raise InvalidEntity(f"unknown operation {op.kind!r}")
            if op.entity.partition_key != partition_key:
                raise InvalidEntity("operation on another partition")
            if op.kind == "delete":
                pk, rk = encode_key(partition_key, "PartitionKey"), encode_key(op.entity.row_key, "RowKey")
                *item, size = pk, rk, {}, 4 + utf16_bytes(pk + rk)
            else:
                *item, size = _sized_entity(op.entity)
            if item[1] in seen:
                raise InvalidEntity(f"RowKey {op.entity.row_key!r} twice in one batch")
        except StoreError as exc:
            raise BatchFailed(index, exc) from exc
        seen.add(item[1])
        checked.append(tuple(item))
        bound += BATCH_PART_BYTES + 256 + 10 * size
    _check_wire_size(ops, checked, bound)
    return checked


def _check_wire_size(ops: list[Op], checked: list[tuple[str, str, dict[str, Any]]], bound: int) -> None:
    """BatchTooLarge when the transaction's body would pass MAX_BATCH_BYTES. The exact count
    (JSON serialisation) is skipped when a safe bound — ten times Table Storage's UTF-16
    estimate per operation (`entity_size`), more than any escaping, base64 or URL-quoting
    costs — fits."""
    if bound <= MAX_BATCH_BYTES:
        return
    total = sum(part_size(op.kind, *item) for op, item in zip(ops, checked, strict=True))
    if total > MAX_BATCH_BYTES:
        raise BatchTooLarge(f"batch of {total} bytes on the wire, over {MAX_BATCH_BYTES}")


def check_equals(equals: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validated `equals` filter; a None value means "property absent"."""
    return {
        check_name(n): None if v is None else check_value(n, v) for n, v in (equals or {}).items()
    }


def _kind(value: Any) -> type:
    return bool if isinstance(value, bool) else type(value)


def matches(properties: Mapping[str, Any], equals: Mapping[str, Any]) -> bool:
    """Whether every `equals` item holds, comparing type (bool, int, float...) and value."""
    for name, expected in equals.items():
        actual = properties.get(name)
        if expected is None:
            if actual is not None:
                return False
        elif actual is None or _kind(actual) is not _kind(expected) or actual != expected:
            return False
    return True
