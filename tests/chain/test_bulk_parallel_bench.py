"""The day-one benchmark's load through devhost with two bulk workers (tiny size): the HTTP
route reaches the workers (spawned from under pytest, whose `__main__` they must not run),
every record is created, and peak memory counts the largest worker."""

from __future__ import annotations

from bench import dayone
from shared.services import bulk_workers


def test_the_day_one_load_on_two_workers_reports_the_workers_and_their_memory(monkeypatch):
    monkeypatch.setenv("ROSTER_BULK_WORKERS", "2")
    bulk_workers.STATS.clear()

    figures = dayone.run_load(250)  # three chunks of one call: the workers' path

    assert figures["records"] == 250 and figures["bulk_workers"] == 2
    assert bulk_workers.STATS["chunks"] + bulk_workers.STATS["lost"] == 3 and bulk_workers.STATS["lost"] == 0
    assert figures["peak_worker_mib"] > 0
    assert abs(figures["peak_sum_mib"] - figures["peak_memory_mib"] - figures["peak_worker_mib"]) <= 1  # rounded
    assert bulk_workers._pool is None  # stopped before memory was read
