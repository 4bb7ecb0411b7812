"""The day-one benchmark's delivery part runs (tiny size): every automatic order reaches the
receiver, counted inside batches, in fewer POSTs than orders."""

from __future__ import annotations

import httpx

from bench import dayone


def test_the_day_one_benchmark_delivers_every_automatic_order_in_batches(monkeypatch):
    monkeypatch.setenv("ROSTER_BENCH_BATCH", "50")

    figures = dayone.run(40)

    assert figures["records"] == 40
    assert figures["automatic_orders"] > 0
    assert figures["webhook_requests"] < figures["automatic_orders"]  # orders counted inside batches
    assert figures["orders_delivered_per_s"] > 0
    assert figures["batch_size"] == 50 and figures["concurrency"] == 4


def test_the_receiver_counts_each_order_once_however_often_it_comes():
    with dayone.webhook_receiver() as (url, received):
        batch = {"orders": [{"order": {"id": "o-1"}}, {"order": {"id": "o-2"}}]}
        answer = httpx.post(url, json=batch)
        httpx.post(url, json={"order": {"id": "o-1"}})

    assert answer.json() == {"results": [{"id": "o-1", "status": 201}, {"id": "o-2", "status": 201}]}
    assert (received.count(), received.requests) == (2, 2)
