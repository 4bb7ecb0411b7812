"""The SQLite adapter's stored property text (`dump_props`), put together by hand, is exactly
the text the standard JSON encoder writes for the tagged properties with the same options, and
reads back as the properties given."""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.store.sqlite import dump_props, load_props

VALUES = [
    "", "plain", "é\u2028\"\\\n\t\x7f", "\x00\x1f", "\U0001f600", "a" * 5000, 0, -1, -(2**63), 2**63 - 1,
    1.5, -0.0, 0.0, 1e300, 5e-324, 1 / 3, float("nan"), float("inf"), float("-inf"), True, False,
    datetime(2026, 12, 3, 15, 0, 1, 5, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC),
    datetime(1601, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
    b"", b"\x00\xff", bytes(range(256)),
]
_STANDARD = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _tagged(value) -> tuple[str, object]:
    """The (tag, JSON value) a property is stored as."""
    if isinstance(value, datetime):
        return "d", value.isoformat()
    if isinstance(value, bytes):
        return "y", base64.b64encode(value).decode("ascii")
    return {bool: "b", int: "i", float: "f", str: "s"}[type(value)], value


@pytest.mark.parametrize("value", VALUES, ids=lambda v: f"{type(v).__name__}:{str(v)[:12]!r}")
def test_a_property_is_stored_as_the_standard_encoder_writes_it(value):
    properties = {"given_name": value, "other": "x", "n": 1, "é_name\u2028": value, 'a"b\\c': value}
    text = dump_props(properties)
    assert text == _STANDARD.encode({name: _tagged(v) for name, v in properties.items()})
    back = load_props(text)["given_name"]
    assert (math.isnan(back) and math.isnan(value)) if isinstance(value, float) and value != value else back == value
    assert type(back) is type(value)


def test_no_properties_and_many_properties():
    assert dump_props({}) == "{}"
    many = {f"p{n}": n for n in range(300)}
    assert dump_props(many) == _STANDARD.encode({k: ("i", v) for k, v in many.items()})


@pytest.mark.parametrize("value", [[1, 2], {"nested": 1}, None, 1 + 2j])
def test_an_unsupported_type_is_still_refused(value):
    with pytest.raises(KeyError):
        dump_props({"a": value})
