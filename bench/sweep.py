"""The self-healing sweep's cost: a whole pass over a populated registry (each person in a
dynamic group and a static one, with accounts and an entitlement in two manual targets), timed in
runs of the timer's batch size, reported per 10,000 persons; and the repairs a pass makes
when some of the chain's state was lost on purpose (every fifth person's create_account).

ROSTER_BENCH_SWEEP_PERSONS sets the registry size (default 2,000).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

from bench.common import progress, show
from bench.registration import update
from shared.bus.local import LocalBus
from shared.clock import SystemClock
from shared.config import Settings
from shared.models.group import GroupIn, MemberIn
from shared.models.provisioning import Policy, Target
from shared.runtime import Runtime
from shared.services import groups
from shared.services.chain import after_group_change, run_sync
from shared.services.sweep import BATCH, sweep
from shared.store.orders import OrderRepository
from shared.store.sqlite import SqliteStore
from shared.store.targets import TargetRepository

RULE = 'person.affiliations -any (affiliation.organization -eq "FIN")'


def populated(tmp: str, persons: int) -> tuple[Runtime, list[str]]:
    clock = SystemClock()
    settings = Settings.from_env({"ROSTER_STORE": f"sqlite:///{tmp}/r.db", "ROSTER_BUS_PATH": f"{tmp}/b.db"})
    rt = Runtime(settings, clock=clock, store=SqliteStore(f"{tmp}/r.db"), bus=LocalBus(f"{tmp}/b.db", clock=clock))
    targets = TargetRepository(rt.store)
    targets.save(Target(id="wiki", name="Wiki"))
    targets.save(Target(id="desk", name="Service desk"))  # manual too: no connector runs here
    groups.create_group(rt, GroupIn(id="fin", name="Finance", kind="dynamic", rule=RULE), "bench")
    groups.create_group(rt, GroupIn(id="vpn", name="VPN"), "bench")
    for target_id in ("wiki", "desk"):
        targets.add_policy(target_id, Policy(group_id="fin"))
    targets.add_policy("wiki", Policy(group_id="vpn", entitlement="vpn"))
    ids = []
    with progress(f"registering {persons} persons (sync chain)", persons) as step:
        for n in range(persons):
            person_id = run_sync(rt, update(n), "bench").registration.person.id
            change = groups.add_member(rt, "vpn", MemberIn(person_id=person_id, reason="bench"), "bench", {"Admin"})
            after_group_change(rt, change)
            ids.append(person_id)
            step()
    return rt, ids


def a_pass(rt: Runtime, persons: int) -> tuple[list[float], dict]:
    """Sweep runs of BATCH persons until a whole pass is done; per-run seconds and repairs."""
    seconds, repairs = [], {}
    with progress("sweeping", persons) as step:
        while True:
            started = time.perf_counter()
            figures = sweep(rt, BATCH)
            seconds.append(time.perf_counter() - started)
            for kind, count in figures["repairs"].items():
                repairs[kind] = repairs.get(kind, 0) + count
            for _ in range(figures["persons_checked"]):
                step()
            if figures["pass_completed"]:
                break
    return seconds, repairs


def lose_orders(rt: Runtime, ids: list[str]) -> int:
    """Delete every fifth person's wiki create_account with its index rows, as a crash of old would."""
    repo, lost = OrderRepository(rt.store), 0
    for person_id in ids[::5]:
        for order in repo.of_person(person_id):
            if order.target_id == "wiki" and order.entitlement == "account":
                repo.table.delete(f"person:{person_id}", f"o|{order.id}")
                repo.table.delete(f"person:{person_id}", "a|wiki|account")
                repo.unlist(order, order.state)
                lost += 1
    return lost


def run() -> dict:
    persons = int(os.environ.get("ROSTER_BENCH_SWEEP_PERSONS", "2000"))
    with tempfile.TemporaryDirectory() as tmp:
        rt, ids = populated(tmp, persons)
        clean, clean_repairs = a_pass(rt, persons)
        lost = lose_orders(rt, ids)
        healing, repairs = a_pass(rt, persons)
        rt.close()
    per_person = sum(clean) / persons
    figures = {
        "persons": persons, "batch": BATCH,
        "pass_seconds": round(sum(clean), 2), "seconds_per_10000": round(per_person * 10_000, 1),
        "run_seconds_median": round(statistics.median(clean), 3), "ms_per_person": round(per_person * 1000, 2),
        "repairs_clean_pass": clean_repairs, "orders_lost": lost, "repairs_healing_pass": repairs,
        "healing_pass_seconds": round(sum(healing), 2),
    }
    show("Self-healing sweep", [
        (f"a pass over {persons:,} persons (runs of {BATCH})", f"{figures['pass_seconds']:.1f} s"),
        ("cost per 10,000 persons", f"{figures['seconds_per_10000']:.0f} s"),
        (f"one timer run of {BATCH} persons, median", f"{figures['run_seconds_median']:.2f} s"),
        ("repairs on a clean registry", str(clean_repairs or "none")),
        (f"{lost} create_account orders deleted → repairs", str(repairs)),
    ])
    return figures


if __name__ == "__main__":
    run()
