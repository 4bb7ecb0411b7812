"""Parts of row keys: the random parts of order ids, audit row keys and outbox marks keep the
form they had as slices of a UUID4's hex (lowercase hex, 12 or 8 characters, random bits only)
and differ each time; the instant a key begins with is what strftime wrote; audit details are
the JSON they were."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.store.audit import audit_entity
from shared.store.groups import _day, _stamp
from shared.store.keys import instant_key
from shared.store.orders import new_order_id, person_of


def test_an_order_id_is_its_person_and_twelve_random_hex_digits():
    ids = {new_order_id("0123abcd") for _ in range(200)}
    assert len(ids) == 200
    for order_id in ids:
        assert re.fullmatch(r"0123abcd\.[0-9a-f]{12}", order_id)
        assert person_of(order_id) == "0123abcd"


def test_an_audit_row_key_ends_in_eight_random_hex_digits():
    at = datetime(2026, 12, 3, 17, 5, 1, 250, tzinfo=UTC)
    keys = {audit_entity("p", at, "hr", "person.created", "why", {}, 7).row_key for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert re.fullmatch(r"audit\|20261203T170501\.000250Z\|000000000007\|[0-9a-f]{8}", key)


def _instants(zones: list) -> list[datetime]:
    rng = random.Random(13)
    instants = []
    for _ in range(20_000):
        year = rng.choice([2, 5, 99, 999, 1000, 1601, 2026, 9998, rng.randint(2, 9998)])
        instants.append(datetime(year, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59),
                                 rng.randint(0, 59), rng.choice([0, 1, 999_999, rng.randint(0, 999_999)]),
                                 tzinfo=rng.choice(zones)))
    return instants


def test_an_instant_key_is_what_strftime_writes_for_every_year_and_zone():
    for at in _instants([UTC, None, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=11))]):
        assert instant_key(at) == at.strftime("%Y%m%dT%H%M%S.%fZ"), at


def test_the_due_index_day_and_stamp_are_what_strftime_writes_in_utc():
    for at in _instants([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=11))]):
        utc = at.astimezone(UTC)
        assert _day(at) == utc.strftime("%Y-%m-%d"), at
        assert _stamp(at) == utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), at


@pytest.mark.parametrize("details", [
    {}, {"group_id": "g1", "reason": "rule: staff"}, {"é": "ü\u2028", "n": [1, 2.5, None, True]},
    {"at": datetime(2026, 12, 3, tzinfo=UTC), "ids": {1, 2}}, {"x": float("nan")},
])
def test_audit_details_are_written_as_json_dumps_with_str_for_the_rest(details):
    entity = audit_entity("p", datetime(2026, 12, 3, tzinfo=UTC), "hr", "person.updated", "why", details)
    assert entity.properties["details"] == json.dumps(details, default=str)
