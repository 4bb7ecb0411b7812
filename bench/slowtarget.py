"""One slow target: how long the provisioning-order queue takes to carry out a healthy
target's orders while another target hangs (accepts, never answers) — one worker, as the
worst case of devhost. Every call to the hanging target costs its timeout; the circuit
breaker stops the calls after ROSTER_CIRCUIT_FAILURES of them, so the drain costs about
that many timeouts, not one per order (nor, as before, `retries` timeouts and the backoff
sleeps per order, which the "before" column computes from the same settings)."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.common import show
from bench.registration import update
from shared.bus.local import LocalBus
from shared.clock import SystemClock
from shared.config import Settings
from shared.models.group import GroupIn, MemberIn
from shared.models.messages import OrderRef
from shared.models.provisioning import OrderState, Policy, Target
from shared.runtime import Runtime
from shared.services import delivery, groups
from shared.services.provisioning import evaluate_provisioning
from shared.services.registration import register
from shared.store.orders import OrderRepository
from shared.store.sqlite import SqliteStore
from shared.store.targets import TargetRepository

PERSONS, TIMEOUT, RUNS = 20, 1.0, 3
SECRET_ENV = "ROSTER_TARGET_SECRET_BENCH_SLOW"
OLD_RETRIES, OLD_SLEEPS = 3, 0.5 + 1.0  # the former in-handler retries: 3 calls, 0.5 s and 1 s asleep


@contextmanager
def receiver(hang: bool) -> Iterator[str]:
    """A webhook receiver on 127.0.0.1 answering 204, or hanging until it is shut down."""
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("content-length") or 0))
            if hang:
                release.wait(30)
                return
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook"
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def one_run() -> dict:
    os.environ.setdefault(SECRET_ENV, "bench")
    with tempfile.TemporaryDirectory() as tmp, receiver(hang=True) as stuck, receiver(hang=False) as quick:
        clock = SystemClock()
        os.environ.setdefault("ROSTER_ALLOW_LOOPBACK", "true")  # the receivers listen on 127.0.0.1
        settings = Settings.from_env({"ROSTER_STORE": f"sqlite:///{tmp}/r.db", "ROSTER_BUS_PATH": f"{tmp}/b.db",
                                      "ROSTER_ALLOW_LOOPBACK": "true"})
        rt = Runtime(settings, clock=clock, store=SqliteStore(f"{tmp}/r.db"), bus=LocalBus(f"{tmp}/b.db", clock=clock))
        targets = TargetRepository(rt.store)
        groups.create_group(rt, GroupIn(id="staff", name="Staff"), "bench")
        for target_id, url in (("stuck", stuck), ("quick", quick)):
            targets.save(Target(id=target_id, name=target_id, connector="webhook",
                                settings={"url": url, "secret_env": SECRET_ENV, "timeout_seconds": TIMEOUT}))
            targets.add_policy(target_id, Policy(group_id="staff"))
        for n in range(PERSONS):
            person_id = register(rt, update(n), "bench", announce=False).person.id
            groups.add_member(rt, "staff", MemberIn(person_id=person_id, reason="bench"), "bench", {"Admin"})
            evaluate_provisioning(rt, person_id, "bench")
        start = time.perf_counter()
        queue = settings.queue("provisioning-order")
        while (message := rt.bus.receive(queue)) is not None:
            delivery.execute(rt, OrderRef.model_validate_json(message.body).order_id)
            rt.bus.complete(message)
        took = time.perf_counter() - start
        repo = OrderRepository(rt.store)
        done = sum(1 for _ in repo.queue("quick", OrderState.executed))
        rt.close()
    return {"seconds": took, "quick_executed": done}


def run() -> dict:
    runs = [one_run() for _ in range(RUNS)]
    median = statistics.median(r["seconds"] for r in runs)
    before = PERSONS * (OLD_RETRIES * TIMEOUT + OLD_SLEEPS)
    result = {"persons": PERSONS, "timeout_seconds": TIMEOUT, "drain_seconds_median": round(median, 2),
              "quick_orders_executed": min(r["quick_executed"] for r in runs),
              "before_seconds_computed": before, "ratio_before_to_now": round(before / median, 1)}
    rows = {
        f"{PERSONS} persons, hanging target ({TIMEOUT:g} s timeout) + healthy target, one worker":
            f"{median:.2f} s (median of {RUNS})",
        "healthy target's orders executed": f"{result['quick_orders_executed']} of {PERSONS}",
        "before: in-handler retries and sleeps, computed": f"{before:.1f} s ({result['ratio_before_to_now']}×)",
    }
    show("one slow target", list(rows.items()))
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
