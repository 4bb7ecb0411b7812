"""The day-one benchmark's load through devhost with two bulk workers (tiny size): the HTTP
route reaches the workers (spawned from under pytest, whose `__main__` they must not run),
every record is created, and peak memory counts the largest worker."""

from __future__ import annotations

import pytest

from bench import dayone
from shared.runtime import runtime
from shared.services import bulk_workers
from shared.store.port import StoreError


def test_the_day_one_load_on_two_workers_reports_the_workers_and_their_memory(monkeypatch):
    monkeypatch.setenv("ROSTER_BULK_WORKERS", "2")
    bulk_workers.STATS.clear()

    figures = dayone.run_load(250)  # three chunks of one call: the workers' path

    assert figures["records"] == 250 and figures["bulk_workers"] == 2
    assert bulk_workers.STATS["chunks"] + bulk_workers.STATS["lost"] == 3 and bulk_workers.STATS["lost"] == 0
    assert figures["peak_worker_mib"] > 0
    assert abs(figures["peak_sum_mib"] - figures["peak_memory_mib"] - figures["peak_worker_mib"]) <= 1  # rounded
    assert bulk_workers._pool is None  # stopped before memory was read


def test_stopping_devhost_stops_its_bulk_workers_and_closes_its_runtime(monkeypatch, tmp_path):
    monkeypatch.setenv("ROSTER_BULK_WORKERS", "2")
    monkeypatch.setenv(dayone.SECRET_ENV, "bench-secret")
    with dayone.devhost(tmp_path, delivering=False) as (client, _host):
        answer = client.post("/api/persons/bulk", json=list(dayone.records(150)))  # two chunks: the workers
        assert answer.status_code == 200 and answer.json()["summary"] == {"created": 150}
        workers = [worker.process for worker in bulk_workers._pool.workers]
        served = runtime()
        assert len(workers) == 2 and all(process.is_alive() for process in workers)

    assert bulk_workers._pool is None
    assert not any(process.is_alive() for process in workers)
    with pytest.raises(StoreError, match="closed"):
        served.store.table("persons").get("x", "y")
