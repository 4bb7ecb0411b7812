"""End to end: POST /api/persons (sync) through devhost over real HTTP."""

from __future__ import annotations

from bench.common import median_ms, progress, roster_over_http, show, timed
from bench.registration import update


def run(calls: int = 300) -> dict:
    samples = []
    with roster_over_http(["Persons.Write"]) as client, progress(f"{calls} sync registrations over HTTP", calls) as step:
        for n in range(calls):
            body = update(n).model_dump(mode="json", exclude_none=True)
            samples.append(timed(lambda: client.post("/api/persons", json=body).raise_for_status()))
            step()
    figures = {"post_persons_sync_ms": median_ms(samples)}
    show("HTTP through devhost", [("POST /api/persons (sync, new person), median", f"{figures['post_persons_sync_ms']:.2f} ms")])
    return figures
