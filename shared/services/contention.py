"""Optimistic concurrency: redo a read-decide-write step when someone else wrote first.

The one attempt policy of every optimistic update (docs/architecture.md §10): a step that
loses the race (ETagMismatch, EntityExists) is re-run from its read, at most `ATTEMPTS`
times, after a random pause that grows by `PAUSE_STEP` per attempt up to `PAUSE_CAP`
(full jitter, so colliding writers spread out). Worst case ≈ 0.5 s of pauses, typically a
few milliseconds; then `Busy` (503: the caller retries, or the message comes back).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from shared.errors import Busy
from shared.store.port import EntityExists, ETagMismatch

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
