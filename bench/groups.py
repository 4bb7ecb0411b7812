"""Full re-evaluation on the embedded store: 100,000 persons × 1,000 rules, naive vs indexed.

Both runs go through the same `evaluate_person` (read the person, their memberships and
state; compute; write only what changed); only the rule book differs.
"""

from __future__ import annotations

import os
import random
import tempfile
import time

from bench.common import progress, show
from bench.rules import AT, synthetic_person, synthetic_rules
from shared.bus.local import LocalBus
from shared.clock import TravelClock
from shared.config import Settings
from shared.models.group import Group
from shared.runtime import Runtime
from shared.services import rulebook as books
from shared.services.membership import evaluate_person
from shared.services.search import person_tokens
from shared.store.audit import audit_entity
from shared.store.groups import GroupRepository
from shared.store.persons import PersonRepository
from shared.store.sqlite import SqliteStore


def seed(rt: Runtime, persons: int, rules: dict[str, str]) -> list[str]:
    repo, rnd, ids = PersonRepository(rt.store), random.Random(11), []
    with progress(f"seeding {persons:,} persons", persons) as step:
        for n in range(persons):
            person = synthetic_person(n, rnd).model_copy(update={"id": f"{rnd.getrandbits(128):032x}"})
            repo.create(person, audit_entity(person.id, AT, "bench", "person.created", "seed", {}))
            repo.index(person.id, person_tokens(person), set())
            ids.append(person.id)
            step()
    groups = GroupRepository(rt.store)
    for group_id, text in rules.items():
        group = Group(id=group_id, name=group_id, kind="dynamic", rule=text, version=1, updated_at=AT)
        groups.write(group, None, audit_entity("groups", AT, "bench", "group.created", "seed", {}), create=True)
    return ids


def full_run(rt: Runtime, ids: list[str], label: str) -> float:
    start = time.perf_counter()
    with progress(label, len(ids)) as step:
        for person_id in ids:
            evaluate_person(rt, person_id, "bench")
            step()
    return time.perf_counter() - start


def run(persons: int | None = None, rule_count: int = 1_000) -> dict:
    persons = persons or int(os.environ.get("ROSTER_BENCH_PERSONS", "100000"))
    with tempfile.TemporaryDirectory() as tmp:
        clock = TravelClock(AT)
        settings = Settings.from_env({"ROSTER_STORE": f"sqlite:///{tmp}/r.db", "ROSTER_BUS_PATH": f"{tmp}/b.db",
                                      "ROSTER_TIMEZONE": "Europe/Brussels"})
        rt = Runtime(settings, clock=clock, store=SqliteStore(f"{tmp}/r.db"), bus=LocalBus(f"{tmp}/b.db", clock=clock))
        ids = seed(rt, persons, synthetic_rules(rule_count))
        first = full_run(rt, ids, "first evaluation (indexed, memberships written)")
        steady = full_run(rt, ids, "full re-evaluation, indexed")
        books._books[rt.store] = books.rulebook(rt.store, clock).naive()
        naive = full_run(rt, ids, "full re-evaluation, naive")
        rt.close()
    figures = {
        "persons": persons, "rules": rule_count,
        "first_run_s": first, "indexed_s": steady, "naive_s": naive,
        "ratio": naive / steady,
    }
    show(f"Groups on the embedded store: {persons:,} persons × {rule_count:,} rules", [
        ("first evaluation, indexed (everyone's memberships written)", f"{first:.1f} s"),
        ("full re-evaluation, naive (every rule for every person)", f"{naive:.1f} s"),
        ("full re-evaluation, indexed (Roster)", f"{steady:.1f} s"),
        ("naive / indexed", f"×{naive / steady:.1f}"),
        ("per person, indexed", f"{steady / persons * 1e6:.0f} µs"),
    ])
    return figures


if __name__ == "__main__":
    run()
