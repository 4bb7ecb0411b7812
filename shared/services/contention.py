"""Optimistic concurrency: redo a read-decide-write step when someone else wrote first."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from shared.errors import Busy
from shared.store.port import EntityExists, ETagMismatch

T = TypeVar("T")
ATTEMPTS = 8


def retrying(step: Callable[[], T], busy: str) -> T:
    """Run `step` until it commits; after a few collisions give up with Busy (503: retry)."""
    for attempt in range(ATTEMPTS):
        try:
            return step()
        except (ETagMismatch, EntityExists):
            time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
    raise Busy(busy)
