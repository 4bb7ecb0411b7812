"""Person registry: registration latency, and lookups whose cost must not grow with size."""

from __future__ import annotations

import json
import tempfile

from bench.common import median_ms, progress, show, timed
from shared.bus.local import LocalBus
from shared.clock import SystemClock
from shared.config import Settings
from shared.models.person import PersonUpdate
from shared.runtime import Runtime
from shared.services import search
from shared.services.registration import register
from shared.store.persons import PersonRepository
from shared.store.sqlite import SqliteStore

GIVEN = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Niklaus"]
FAMILY = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Wirth"]


def update(n: int, as_of: str = "2026-11-01T08:00:00+00:00", organization: str = "FIN") -> PersonUpdate:
    return PersonUpdate.model_validate({
        "source": "hr", "source_id": f"E{n:07d}", "as_of": as_of,
        "names": {"given": GIVEN[n % 10], "family": f"{FAMILY[(n // 10) % 10]}{n}"},
        "emails": [{"address": f"person{n}@example.edu"}],
        "affiliations": [{"key": "job", "type": "employee", "organization": organization,
                          "start": "2024-01-01", "end": "2027-06-30"}],
    })


def grow(rt: Runtime, start: int, stop: int, label: str) -> list[float]:
    samples = []
    with progress(label, stop - start) as step:
        for n in range(start, stop):
            samples.append(timed(lambda: register(rt, update(n), "bench")))
            step()
    return samples


def lookups(rt: Runtime, size: int, probes: int = 300) -> tuple[float, float]:
    repo = PersonRepository(rt.store)
    ids = [(n * 7919) % size for n in range(probes)]
    by_id = [timed(lambda: search.by_identifier(repo, "hr", f"E{n:07d}")) for n in ids]
    by_text = [timed(lambda: search.by_text(repo, f"person{n}@example.edu")) for n in ids]
    return median_ms(by_id), median_ms(by_text)


def run(small: int = 1_000, large: int = 10_000) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({"ROSTER_STORE": f"sqlite:///{tmp}/r.db", "ROSTER_BUS_PATH": f"{tmp}/b.db"})
        clock = SystemClock()
        rt = Runtime(settings, clock=clock, store=SqliteStore(f"{tmp}/r.db"), bus=LocalBus(f"{tmp}/b.db", clock=clock))
        created = grow(rt, 0, small, f"registering {small} persons")
        small_id, small_text = lookups(rt, small)
        grow(rt, small, large, f"growing to {large} persons")
        large_id, large_text = lookups(rt, large)
        replays = [timed(lambda: register(rt, update(n), "bench")) for n in range(300)]
        moves = [
            timed(lambda: register(rt, update(n, "2026-11-02T08:00:00+00:00", "HR"), "bench")) for n in range(300)
        ]
        rt.close()
    figures = {
        "create_ms": median_ms(created),
        "update_ms": median_ms(moves),
        "replay_ms": median_ms(replays),
        "identifier_lookup_ms": {str(small): small_id, str(large): large_id},
        "text_search_ms": {str(small): small_text, str(large): large_text},
    }
    show("Person registry (SQLite store, local bus)", [
        ("register: create, median", f"{figures['create_ms']:.2f} ms"),
        ("register: update (job move), median", f"{figures['update_ms']:.2f} ms"),
        ("register: replay (unchanged), median", f"{figures['replay_ms']:.2f} ms"),
        (f"lookup by identifier, {small:,} → {large:,} persons",
         f"{small_id:.3f} → {large_id:.3f} ms (×{large_id / small_id:.2f})"),
        (f"text search (email), {small:,} → {large:,} persons",
         f"{small_text:.3f} → {large_text:.3f} ms (×{large_text / small_text:.2f})"),
    ])
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
