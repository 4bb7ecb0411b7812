"""The validation's short path for common values (ASCII strings, Int32, floats, UTC datetimes)
gives exactly what the general checks give: the same stored value, the same size, the same refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.store.port import INT32_MAX, INT32_MIN, MAX_STRING_BYTES, StoreError
from shared.store.validation import _sized_properties, check_name, check_value, value_size

VALUES = [
    "", "plain", "a" * (MAX_STRING_BYTES // 2), "a" * (MAX_STRING_BYTES // 2 + 1), "é" * 40_000, "\ud800",
    0, INT32_MAX, INT32_MAX + 1, INT32_MIN, INT32_MIN - 1, 2**63 - 1, 2**63, True, False,
    1.5, float("nan"), float("inf"), b"\x00\x01", bytearray(b"ab"),
    datetime(2026, 12, 3, 15, 0, tzinfo=UTC), datetime(2026, 12, 3, 15, 0, fold=1, tzinfo=UTC),
    datetime(2026, 12, 3, 15, 0, tzinfo=timezone(timedelta(hours=2))), datetime(2026, 12, 3, 15, 0),
    datetime(1601, 1, 1, tzinfo=UTC), datetime(1600, 12, 31, 23, 59, tzinfo=UTC),
]


def _general(name: str, value):
    """What the general checks make of one property: (stored value, size), or the refusal's type."""
    try:
        clean = check_value(check_name(name), value)
    except StoreError as refused:
        return type(refused)
    return clean, 8 + 2 * len(name) + value_size(clean)


@pytest.mark.parametrize("value", VALUES, ids=lambda v: f"{type(v).__name__}:{str(v)[:20]!r}")
def test_the_short_path_stores_sizes_and_refuses_as_the_general_checks(value):
    try:
        clean, size = _sized_properties({"given_name": value})
        outcome = clean["given_name"], size
    except StoreError as refused:
        outcome = type(refused)
    expected = _general("given_name", value)
    assert repr(outcome) == repr(expected)  # repr: nan equals itself, bool stays bool
    if isinstance(outcome, tuple):
        assert type(outcome[0]) is type(expected[0])
        if isinstance(outcome[0], datetime):
            assert outcome[0].tzinfo is UTC and outcome[0].fold == expected[0].fold
