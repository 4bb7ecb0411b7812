"""A test's travel clock handed to a bulk worker process: pickled where it stands."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

from shared.clock import TravelClock
from shared.services.bulk_workers import _portable


def test_a_travel_clock_crosses_to_a_worker_standing_where_it_stood_and_moves_on_its_own():
    clock = TravelClock(datetime(2026, 11, 1, 8, tzinfo=UTC))
    clock.advance(timedelta(days=3))

    copy = pickle.loads(pickle.dumps(_portable(clock)))
    copy.advance(timedelta(hours=1))

    assert copy.now() == datetime(2026, 11, 4, 9, tzinfo=UTC)
    assert clock.now() == datetime(2026, 11, 4, 8, tzinfo=UTC)


def test_a_clock_that_cannot_be_pickled_crosses_as_one_standing_at_its_instant():
    class Local:  # a local class: pickle cannot name it
        def now(self) -> datetime:
            return datetime(2026, 12, 3, 12, tzinfo=UTC)

    handed = _portable(Local())

    assert isinstance(handed, TravelClock) and handed.now() == datetime(2026, 12, 3, 12, tzinfo=UTC)
