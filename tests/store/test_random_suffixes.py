"""The random parts of order ids, audit row keys and outbox marks keep the form they had as
slices of a UUID4's hex (lowercase hex, 12 or 8 characters, random bits only) and differ each time."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from shared.store.audit import audit_entity
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
