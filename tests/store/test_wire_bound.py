"""The shortcut `check_batch` takes — skip the exact byte count when ten times Table
Storage's estimate fits — is safe: the exact count never passes that bound, whatever the
escaping, base64 or URL quoting an entity needs (seeded random entities)."""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime

from shared.store.port import BATCH_PART_BYTES, Entity, StoreError
from shared.store.validation import check_entity, entity_size, part_size

NASTY = "\x01\"\\é✓𝄞aZ09 /"


def random_entity(rnd: random.Random) -> Entity:
    def text(most: int) -> str:
        return "".join(rnd.choice(NASTY) for _ in range(rnd.randint(1, most)))

    values = [lambda: text(50), lambda: bytes(rnd.randrange(256) for _ in range(40)), lambda: rnd.randint(-5, 5),
              lambda: 2**40, lambda: rnd.random(), lambda: datetime(2026, 1, 2, tzinfo=UTC), lambda: True]
    props = {"p" + "".join(rnd.choice(string.ascii_letters) for _ in range(rnd.randint(0, 20))): rnd.choice(values)()
             for _ in range(rnd.randint(0, 8))}
    return Entity(text(60), text(60), props)


def test_the_exact_wire_size_never_passes_the_shortcut_bound():
    rnd, checked = random.Random(20261102), 0
    for _ in range(2000):
        try:
            pk, rk, props = check_entity(random_entity(rnd))
        except StoreError:
            continue
        bound = BATCH_PART_BYTES + 256 + 10 * entity_size(pk, rk, props)
        for kind in ("insert", "replace", "delete"):
            assert part_size(kind, pk, rk, props) <= bound
        checked += 1
    assert checked > 1000
