"""Day one at scale: a full HR export through the bulk path and through the CLI.

ROSTER_BENCH_DAYONE records (default 10,000; the day-one goal is stated for 50,000 — persons
with 1–3 affiliations each) against 50
dynamic rules and 5 targets (2 manual, 3 webhook to a local receiver), on devhost with the
embedded store; ROSTER_BENCH_DAYONE_VIA=cli loads them through `python -m cli import`
instead of direct bulk calls. Reports records/s until every person is stored, groups evaluated and every
order created; then until every automatic order is delivered; peak memory of the process
(devhost runs in it), of the largest bulk worker process (ROSTER_BULK_WORKERS, the local
sample's 2 unless the environment says otherwise) and their sum as an upper bound; and the
ratio to a raw batched SQLite insert of as many rows as the load wrote.
"""

from __future__ import annotations

import json
import os
import random
import resource
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from bench.common import console, progress, show

ORGANIZATIONS = [f"ORG{n:02d}" for n in range(25)]
TYPES = ["employee", "student", "faculty", "staff", "affiliate"]
SECRET_ENV = "ROSTER_TARGET_SECRET_BENCH_WEBHOOK"
BATCH = 1000


def records(count: int, seed: int = 7) -> Iterator[dict]:
    """Persons with 1–3 affiliations over 25 organizations and 5 types."""
    rng = random.Random(seed)
    for n in range(count):
        affiliations = [
            {"key": f"job-{a}", "type": rng.choice(TYPES), "organization": rng.choice(ORGANIZATIONS),
             "title": "Staff", "start": "2024-01-01", "end": "2031-06-30"}
            for a in range(rng.randint(1, 3))
        ]
        yield {"source": "hr", "source_id": f"E{n:07d}", "as_of": "2026-11-01T08:00:00+00:00",
               "names": {"given": f"Given{n}", "family": f"Family{n % 5000}"},
               "emails": [{"address": f"p{n}@example.edu", "type": "work"}], "affiliations": affiliations}


class Received:
    """What the bench's webhook receiver saw: distinct order ids (a redelivered order counts
    once), requests, and when the last order came."""

    def __init__(self) -> None:
        self.orders: set[str] = set()
        self.requests = 0
        self.last: float | None = None
        self.lock = threading.Lock()

    def count(self) -> int:
        return len(self.orders)

    def record(self, ids: list[str]) -> None:
        now = time.perf_counter()
        with self.lock:
            self.requests += 1
            self.orders.update(ids)
            self.last = now


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, Received]]:
    """A local receiver of single deliveries (answers 204) and batches (answers 200 with a
    result per order: docs/targets.md, "Webhook batch mode"); it counts the orders."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the pooled client reuses its connections

        def do_POST(self) -> None:
            document = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
            if "orders" in document:
                ids = [entry["order"]["id"] for entry in document["orders"]]
                self._answer(200, json.dumps({"results": [{"id": i, "status": 201} for i in ids]}).encode())
            else:
                ids = [document["order"]["id"]]
                self._answer(204, b"")
            received.record(ids)

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            if body:
                self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def devhost(tmp: Path, delivering: bool = True) -> Iterator[tuple[httpx.Client, object]]:
    """Devhost on `tmp`'s data; `delivering=False`: the provisioning-order trigger is off
    (the orders wait on the queue, as at the end of a load faster than its targets)."""
    from devhost.host import Host

    root = Path(__file__).resolve().parents[1]
    sample = json.loads((root / "local.settings.sample.json").read_text())
    sample["Values"].update(ROSTER_API_KEYS=json.dumps({"bench": ["Admin"]}), ROSTER_ALLOW_LOOPBACK="true",
                            ROSTER_BULK_WORKERS=workers())
    if not delivering:
        sample["Values"]["AzureWebJobs.provisioning_order_queue.Disabled"] = "true"
    settings = tmp / "local.settings.json"
    settings.write_text(json.dumps(sample))
    host = Host("function_app:app", settings_path=settings, host_json=root / "host.json", data_dir=tmp / "d")
    url = host.start()
    try:
        with httpx.Client(base_url=url, headers={"Authorization": "Bearer bench"}, timeout=600) as client:
            yield client, host
    finally:
        host.stop()


def workers() -> str:
    """ROSTER_BULK_WORKERS for the bench's devhost: the environment's, else the sample's."""
    root = Path(__file__).resolve().parents[1]
    sample = json.loads((root / "local.settings.sample.json").read_text())
    return os.environ.get("ROSTER_BULK_WORKERS") or sample["Values"].get("ROSTER_BULK_WORKERS", "1")


def configure(client: httpx.Client, hook_url: str) -> None:
    """50 rules (organization × type pairs) and 5 targets with a policy each on 10 groups."""
    for n in range(50):
        org, kind = ORGANIZATIONS[n % 25], TYPES[n % 5]
        rule = (f'person.affiliations -any (affiliation.organization -eq "{org}" '
                f'-and affiliation.type -eq "{kind}")')
        client.post("/api/groups", json={"id": f"g{n:02d}", "name": f"Group {n}", "kind": "dynamic",
                                         "rule": rule}).raise_for_status()
    for t in range(5):
        target = {"id": f"t{t}", "name": f"Target {t}", "connector": "manual", "on_remove": "disable"}
        if t >= 2:
            target.update(connector="webhook", settings={"url": hook_url, "secret_env": SECRET_ENV,
                                                         "timeout_seconds": 5, **delivery_settings()})
        client.post("/api/targets", json=target).raise_for_status()
        for g in range(t * 10, t * 10 + 10):
            client.post(f"/api/targets/t{t}/policies", json={"group_id": f"g{g:02d}",
                                                              "entitlement": "account"}).raise_for_status()


def delivery_settings() -> dict:
    """The webhook targets' delivery settings: ROSTER_BENCH_BATCH orders per POST (default
    100; 1: one order per POST), ROSTER_BENCH_CONCURRENCY calls at once (default 4)."""
    return {"batch_size": int(os.environ.get("ROSTER_BENCH_BATCH", "100")),
            "concurrency": int(os.environ.get("ROSTER_BENCH_CONCURRENCY", "4"))}


def load_records(client: httpx.Client, count: int, tmp: Path) -> float:
    """The load as ROSTER_BENCH_DAYONE_VIA says: `bulk` (default; 1,000-record calls of
    `POST /api/persons/bulk`) or `cli` (`python -m cli import` of an NDJSON export)."""
    return load_cli(str(client.base_url), count, tmp) if _via() == "cli" else load_bulk(client, count)


def _via() -> str:
    via = os.environ.get("ROSTER_BENCH_DAYONE_VIA", "bulk")
    if via not in ("bulk", "cli"):
        raise SystemExit(f"ROSTER_BENCH_DAYONE_VIA is bulk or cli, not {via!r}")
    return via


def load_cli(url: str, count: int, tmp: Path) -> float:
    """The export written as NDJSON, then loaded by the command-line client (its progress bar
    on the console), as the people who run Roster would."""
    from cli.__main__ import main

    export = tmp / "hr-export.ndjson"
    with export.open("w") as out:
        out.writelines(json.dumps(record) + "\n" for record in records(count))
    started = time.perf_counter()
    code = main(["--url", url, "--key", "bench", "import", str(export), "--source", "hr", "--batch", str(BATCH)],
                console=console)
    if code != 0:
        raise RuntimeError(f"the CLI import ended with exit code {code}")
    return time.perf_counter() - started


def load_bulk(client: httpx.Client, count: int) -> float:
    batch, started = [], time.perf_counter()
    with progress(f"bulk load of {count:,} records", count) as step:
        for record in records(count):
            batch.append(record)
            if len(batch) == BATCH:
                _send(client, batch, step)
                batch = []
        if batch:
            _send(client, batch, step)
    return time.perf_counter() - started


def _send(client: httpx.Client, batch: list[dict], step) -> None:
    answer = client.post("/api/persons/bulk", json=batch)
    answer.raise_for_status()
    failed = answer.json()["summary"].get("failed", 0)
    if failed:
        raise RuntimeError(f"{failed} records failed: {answer.json()['items'][:2]}")
    for _ in batch:
        step()


def wait_delivered(host, received: Received, expected: int, limit: float = 3600) -> float:
    """Seconds from the host's start until the receiver had `expected` distinct orders (the
    pumps start with the host, a few milliseconds before this is called); then drained."""
    started = time.perf_counter()
    while received.count() < expected and time.perf_counter() - started < limit:
        time.sleep(0.05)
    host.drain(timeout=max(1.0, limit - (time.perf_counter() - started)))
    return (received.last or time.perf_counter()) - started


def raw_insert_seconds(rows: int) -> float:
    """The physical floor: as many ~300-byte rows in batched SQLite transactions (WAL)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "raw.db")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE e (pk TEXT, rk TEXT, body TEXT, PRIMARY KEY (pk, rk))")
        body = "x" * 300
        started = time.perf_counter()
        for start in range(0, rows, 1000):
            with db:
                db.executemany("INSERT INTO e VALUES (?, ?, ?)",
                               ((f"p{n // 40}", f"r{n}", body) for n in range(start, min(rows, start + 1000))))
        db.close()
        return time.perf_counter() - started


def rows_written(data_dir: Path) -> int:
    db = sqlite3.connect(data_dir / "roster.db")
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return sum(db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables)
    finally:
        db.close()


def run_load(count: int | None = None) -> dict:
    """The load part alone, as in `run` up to the last answer, without waiting for delivery:
    records/s to "every person stored, groups evaluated, every order created", the rows
    written, the ratio to a raw batched insert of as many, peak memory (devhost in it)."""
    count = count or int(os.environ.get("ROSTER_BENCH_DAYONE", "10000"))
    os.environ[SECRET_ENV] = "bench-secret"
    with tempfile.TemporaryDirectory() as tmp, webhook_receiver() as (hook, _), \
            devhost(Path(tmp), delivering=False) as (client, host):
        configure(client, hook)
        host.drain(timeout=120)
        load = load_records(client, count, Path(tmp))
        rows = rows_written(Path(tmp) / "d")
    floor = raw_insert_seconds(rows)
    return {"records": count, "bulk_workers": int(workers()), "load_s": round(load, 2),
            "records_per_s": round(count / load), "rows_written": rows, "raw_insert_s": round(floor, 3),
            "ratio_to_raw_insert": round(load / floor, 1), **{k: round(v) for k, v in peak_memory().items()}}


def peak_memory() -> dict[str, float]:
    """Peak resident memory in MiB: this process (devhost runs in it), the largest bulk
    worker (RUSAGE_CHILDREN's maximum is the largest reaped child's: the workers are stopped
    first), and their sum — an upper bound, as the peaks need not coincide."""
    from shared.services.bulk_workers import shutdown

    shutdown()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_memory_mib": own, "peak_worker_mib": worker, "peak_sum_mib": own + worker}


def run(count: int | None = None) -> dict:
    count = count or int(os.environ.get("ROSTER_BENCH_DAYONE", "10000"))
    os.environ[SECRET_ENV] = "bench-secret"
    with tempfile.TemporaryDirectory() as tmp, webhook_receiver() as (hook, received):
        with devhost(Path(tmp), delivering=False) as (client, host):
            configure(client, hook)
            host.drain(timeout=120)
            load = load_records(client, count, Path(tmp))
            expected = sum(1 for _ in _automatic_orders(client))
        with devhost(Path(tmp)) as (client, host):  # the queued orders, delivered on their own
            delivered = wait_delivered(host, received, expected)
        rows = rows_written(Path(tmp) / "d")
    floor = raw_insert_seconds(rows)
    peak = peak_memory()
    figures = {
        "records": count, "bulk_workers": int(workers()), "load_s": load, "records_per_s": count / load,
        "automatic_orders": expected, "delivery_s": delivered,
        "orders_delivered_per_s": expected / delivered if delivered else None,
        "webhook_requests": received.requests, **delivery_settings(),
        "rows_written": rows, "raw_insert_s": floor, "ratio_to_raw_insert": load / floor,
        **peak,
    }
    show(f"Day one ({'the CLI' if _via() == 'cli' else 'bulk calls'}, devhost, embedded store)", [
        ("records loaded (persons stored, groups evaluated, orders created)", f"{count:,} in {load:.1f} s"),
        ("records/s", f"{figures['records_per_s']:,.0f}"),
        ("automatic orders queued, then delivered to the webhook receiver",
         f"{expected:,} in {delivered:.1f} s ({expected / delivered:,.0f}/s, {received.requests:,} POSTs)"),
        ("rows written / raw batched SQLite insert of as many", f"{rows:,} / {floor:.1f} s (×{load / floor:.1f})"),
        ("bulk workers (ROSTER_BULK_WORKERS)", f"{figures['bulk_workers']}"),
        ("peak memory: devhost process / largest worker / sum (upper bound)",
         f"{peak['peak_memory_mib']:,.0f} / {peak['peak_worker_mib']:,.0f} / {peak['peak_sum_mib']:,.0f} MiB"),
    ])
    return figures


def _automatic_orders(client: httpx.Client) -> Iterator[dict]:
    """Every order of the webhook targets (t2–t4), following `next`."""
    for target in ("t2", "t3", "t4"):
        params = {"target": target, "limit": 500}
        while True:
            page = client.get("/api/orders", params=params).json()
            yield from page["items"]
            if not page.get("next"):
                break
            params = {**params, "next": page["next"]}


if __name__ == "__main__":
    console.print(run())
