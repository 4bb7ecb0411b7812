"""Provisioning: orders computed per second (20 memberships across 50 targets per person),
and POST /api/persons (sync) until the orders exist, over HTTP through devhost."""

from __future__ import annotations

import statistics
import tempfile
import time

from bench.common import median_ms, progress, roster_over_http, show, timed
from bench.registration import update
from shared.bus.local import LocalBus
from shared.clock import SystemClock
from shared.config import Settings
from shared.models.group import GroupIn, MemberIn
from shared.models.provisioning import Policy, Target
from shared.runtime import Runtime
from shared.services import groups
from shared.services.provisioning import evaluate_provisioning
from shared.services.registration import register
from shared.store.sqlite import SqliteStore
from shared.store.targets import TargetRepository

GROUPS, TARGETS = 20, 50


def orders_per_second(persons: int = 200) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        clock = SystemClock()
        settings = Settings.from_env({"ROSTER_STORE": f"sqlite:///{tmp}/r.db", "ROSTER_BUS_PATH": f"{tmp}/b.db"})
        rt = Runtime(settings, clock=clock, store=SqliteStore(f"{tmp}/r.db"), bus=LocalBus(f"{tmp}/b.db", clock=clock))
        targets = TargetRepository(rt.store)
        for t in range(TARGETS):
            targets.save(Target(id=f"t{t:02d}", name=f"Target {t}", connector="webhook",
                                settings={"url": "http://127.0.0.1:9/hook"}))
        for g in range(GROUPS):
            groups.create_group(rt, GroupIn(id=f"g{g:02d}", name=f"Group {g}"), "bench")
            for k in range(5):  # each group: an entitlement in 5 of the 50 targets
                targets.add_policy(f"t{(g * 5 + k) % TARGETS:02d}", Policy(group_id=f"g{g:02d}", entitlement=f"role-g{g:02d}"))
        ids = []
        with progress(f"{persons} persons in {GROUPS} groups", persons) as step:
            for n in range(persons):
                person_id = register(rt, update(n), "bench", announce=False).person.id
                for g in range(GROUPS):
                    groups.add_member(rt, f"g{g:02d}", MemberIn(person_id=person_id, reason="bench"), "bench", {"Admin"})
                ids.append(person_id)
                step()
        counts, samples = [], []
        with progress("evaluating provisioning", persons) as step:
            for person_id in ids:
                start = time.perf_counter()
                counts.append(len(evaluate_provisioning(rt, person_id, "bench")))
                samples.append(time.perf_counter() - start)
                step()
        rt.close()
    per_person = statistics.median(samples)
    return {"orders_per_person": statistics.median(counts), "evaluation_ms": per_person * 1000,
            "orders_per_second": statistics.median(counts) / per_person}


def sync_chain_over_http(calls: int = 200) -> float:
    samples = []
    with roster_over_http(["Admin"]) as client:
        client.post("/api/groups", json={"id": "fin", "name": "Finance", "kind": "dynamic",
                    "rule": 'person.affiliations -any (affiliation.organization -eq "FIN")'}).raise_for_status()
        for t in range(5):
            client.post("/api/targets", json={"id": f"app{t}", "name": f"App {t}"}).raise_for_status()
            client.post(f"/api/targets/app{t}/policies", json={"group_id": "fin"}).raise_for_status()
        with progress(f"{calls} sync registrations with orders", calls) as step:
            for n in range(calls):
                body = update(n).model_dump(mode="json", exclude_none=True)
                replies = []
                samples.append(timed(lambda: replies.append(client.post("/api/persons", json=body))))
                assert len(replies[0].json()["orders"]) == 5
                step()
    return median_ms(samples)


def run() -> dict:
    figures = orders_per_second()
    figures["post_persons_to_orders_ms"] = sync_chain_over_http()
    show("Provisioning", [
        (f"orders per person ({GROUPS} memberships across {TARGETS} targets)", f"{figures['orders_per_person']:.0f}"),
        ("evaluation per person, median", f"{figures['evaluation_ms']:.1f} ms"),
        ("orders computed per second", f"{figures['orders_per_second']:,.0f}"),
        ("POST /api/persons (sync) → 5 manual orders exist, median", f"{figures['post_persons_to_orders_ms']:.1f} ms"),
    ])
    return figures


if __name__ == "__main__":
    run()
