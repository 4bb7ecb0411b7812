"""The small seeded version of `make faults` in the normal suite: devhost in a subprocess,
a burst of asynchronous HR updates, `kill -9` twice with a backlog queued, restart, drain,
heal, and every invariant of docs/architecture.md §10 asserted (docs/recovery.md)."""

from __future__ import annotations

import os

from tests.faults.chaos import run


def test_a_seeded_run_with_two_kills_ends_drained_healed_and_consistent():
    seed = int(os.environ.get("FAULTS_SEED", "7"))
    figures = run(seed, updates=160, persons=24, kills=2, lock_seconds=2, say=lambda _: None)
    assert figures.kills == 2
    assert any(backlog > 0 for backlog in figures.backlogs_at_kills), "no kill met a backlog"
    assert figures.webhook_deliveries > 0 and figures.orders > 0
