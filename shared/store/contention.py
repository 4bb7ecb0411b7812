"""Optimistic concurrency: redo a read-decide-write step when someone else wrote first.

The one attempt policy of every optimistic update (docs/architecture.md §10): a step that
loses the race (ETagMismatch, EntityExists) is re-run from its read, at most `ATTEMPTS`
times, after a random pause that grows by `PAUSE_STEP` per attempt up to `PAUSE_CAP`
(full jitter, so colliding writers spread out). Worst case ≈ 0.5 s of pauses, typically a
few milliseconds; then `Busy` (503: the caller retries, or the message comes back).
It lives with the store so that repositories' own counters use the same policy
(`read_modify_write`) as the services' updates (`retrying`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from shared.errors import Busy
from shared.store.port import Entity, EntityExists, ETagMismatch, Table

T = TypeVar("T")
ATTEMPTS = 30
PAUSE_STEP = 0.002  # seconds
PAUSE_CAP = 0.03


def retrying(step: Callable[[], T], busy: str) -> T:
    """Run `step` until it commits; after `ATTEMPTS` collisions give up with Busy(`busy`)."""
    for attempt in range(ATTEMPTS):
        try:
            return step()
        except (ETagMismatch, EntityExists):
            time.sleep(random.uniform(0, min(PAUSE_STEP * (attempt + 1), PAUSE_CAP)))
    raise Busy(busy)


def read_modify_write(table: Table, partition: str, row: str, change: Callable[[Entity | None], dict]) -> dict | None:
    """Write `change(the row or None)` to the row under its ETag, with the same policy; the
    properties written, or None when others always wrote first (a counter the caller may
    give up on)."""

    def step() -> dict:
        entity = table.get(partition, row)
        properties = change(entity)
        if entity is None:
            table.insert(Entity(partition, row, properties))
        else:
            table.replace(Entity(partition, row, properties), entity.etag)
        return properties

    try:
        return retrying(step, f"the row {row} is being changed by many at once")
    except Busy:
        return None
