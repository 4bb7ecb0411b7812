"""The Operations page's cost on a registry the size of day one: what one view of the
chain reads (`chain_view`, and the console page's data with a page of dead letters), with
5 targets whose worklists hold day one's orders (ROSTER_BENCH_OPS_ORDERS Executed per target,
default 20,000 — 100,000 in all — and 500 Pending on each of the 3 automatic ones), 50 groups
whose re-evaluations finished (256 batch rows each) and 100 dead letters on a queue.
Reported: median and max milliseconds per view over 15 views; the bound keeps the cost
flat however many orders there are (compare ROSTER_BENCH_OPS_ORDERS=2000).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import UTC, datetime

from bench.common import progress, show
from shared.bus.local import LocalBus
from shared.clock import SystemClock
from shared.config import Settings
from shared.console.operations import operations_page
from shared.models.group import Group
from shared.models.provisioning import OrderState, Target
from shared.runtime import Runtime
from shared.services import operations
from shared.store.audit import audit_entity
from shared.store.groups import GroupRepository
from shared.store.jobs import BUCKETS, JobRepository
from shared.store.port import Entity, Op
from shared.store.sqlite import SqliteStore
from shared.store.targets import TargetRepository

VIEWS = 15
TARGETS = (("wiki", "manual"), ("desk", "manual"), ("hr-app", "webhook"), ("lms", "webhook"), ("mail", "scim"))


def run() -> dict:
    executed = int(os.environ.get("ROSTER_BENCH_OPS_ORDERS", "20000"))
    with tempfile.TemporaryDirectory() as tmp:
        rt = populated(tmp, executed)
        chain = _timed(lambda: operations.chain_view(rt))
        page = _timed(lambda: operations_page(rt, "group-update", "bus", None))
        rt.close()
    figures = {"executed_per_target": executed, "chain_view_ms_median": chain[0], "chain_view_ms_max": chain[1],
               "page_ms_median": page[0], "page_ms_max": page[1]}
    show(f"Operations view ({len(TARGETS)} targets × {executed:,} Executed, 50 groups, 100 dead letters)", [
        ("chain_view, median / max", f"{chain[0]:.0f} / {chain[1]:.0f} ms"),
        ("Operations page data, median / max", f"{page[0]:.0f} / {page[1]:.0f} ms"),
    ])
    return figures


def populated(tmp: str, executed: int) -> Runtime:
    clock = SystemClock()
    settings = Settings.from_env({"ROSTER_STORE": f"sqlite:///{tmp}/r.db", "ROSTER_BUS_PATH": f"{tmp}/b.db"})
    rt = Runtime(settings, clock=clock, store=SqliteStore(f"{tmp}/r.db"), bus=LocalBus(f"{tmp}/b.db", clock=clock))
    orders = rt.store.table("orders")
    with progress("writing worklist rows", len(TARGETS)) as step:
        for target_id, connector in TARGETS:
            TargetRepository(rt.store).save(Target(id=target_id, name=target_id.title(), connector=connector,
                                                   settings={"url": "https://example.edu/hook"}))
            _rows(orders, target_id, OrderState.executed, executed)
            if connector != "manual":
                _rows(orders, target_id, OrderState.pending, 500)
            step()
    _jobs(rt)
    queue = rt.settings.queue("group-update")
    for n in range(100):
        rt.bus.publish(queue, b"{}", f"dl-{n}")
        rt.bus.dead_letter(rt.bus.receive(queue), "MaxDeliveryCountExceeded", "bench")
    return rt


def _rows(orders, target_id: str, state: OrderState, count: int) -> None:
    """Worklist rows as day one leaves them: what the counts read."""
    partition = f"queue:{target_id}:{state.value}"
    for start in range(0, count, 100):
        ops = [Op("upsert", Entity(partition, f"20261102T090000.{n:06d}Z|p{n}.o", {"order_id": f"p{n}.o",
                                                                                    "person_id": f"p{n}"}))
               for n in range(start, min(count, start + 100))]
        orders.batch(partition, ops)


def _jobs(rt: Runtime) -> None:
    at, jobs, repo = datetime.now(UTC), JobRepository(rt.store), GroupRepository(rt.store)
    for n in range(50):
        group_id = f"g{n:02d}"
        repo.write(Group(id=group_id, name=f"Group {n}"), None, audit_entity("groups", at, "bench", "c", "b", {}, n),
                   create=True)
        jobs.start(group_id, "job", "bench", at)
        for bucket in range(BUCKETS):
            jobs.finish_bucket(group_id, "job", f"{bucket:02x}", 200, at)


def _timed(view) -> tuple[float, float]:
    times = []
    for _ in range(VIEWS):
        started = time.perf_counter()
        view()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


if __name__ == "__main__":
    run()
