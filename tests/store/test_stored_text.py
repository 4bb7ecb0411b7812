"""The SQLite adapter's stored property text (`dump_props`), written with one reused C encoder,
is exactly the text the standard JSON encoder writes with the same options, and reads back as
the properties given."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from shared.store import sqlite
from shared.store.sqlite import dump_props, load_props

VALUES = [
    "", "plain", "é\u2028\"\\\n\t", "\U0001f600", "a" * 5000, 0, -(2**63), 2**63 - 1, 1.5, -0.0, 1e300,
    float("nan"), float("inf"), float("-inf"), True, False, datetime(2026, 12, 3, 15, 0, 1, 5, tzinfo=UTC),
    b"", b"\x00\xff",
]


def _tagged_by_the_standard_encoder(properties: dict) -> str:
    """What `dump_props` wrote before the reused encoder: `JSONEncoder.encode`."""
    saved, sqlite._C_ENCODE = sqlite._C_ENCODE, None
    try:
        return dump_props(properties)
    finally:
        sqlite._C_ENCODE = saved


@pytest.mark.parametrize("value", VALUES, ids=lambda v: f"{type(v).__name__}:{str(v)[:12]!r}")
def test_a_property_is_stored_as_the_standard_encoder_writes_it(value):
    properties = {"given_name": value, "other": "x", "n": 1}
    text = dump_props(properties)
    assert sqlite._C_ENCODE is not None  # the reused encoder is the one under test
    assert text == _tagged_by_the_standard_encoder(properties)
    assert text == json.dumps({k: list(v) for k, v in json.loads(text).items()}, ensure_ascii=False,
                              separators=(",", ":"))
    back = load_props(text)["given_name"]
    assert (math.isnan(back) and math.isnan(value)) if isinstance(value, float) and value != value else back == value


def test_the_reused_encoder_keeps_no_state_between_calls():
    first = dump_props({"a": "one"})
    with pytest.raises(KeyError):
        dump_props({"b": {"nested": 1}})
    assert dump_props({"b": 2}) == '{"b":["i",2]}'
    assert dump_props({"a": "one"}) == first == '{"a":["s","one"]}'


def test_an_unsupported_type_is_still_refused_before_encoding():
    with pytest.raises(KeyError):
        dump_props({"a": [1, 2]})
