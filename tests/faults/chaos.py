"""The randomised fault run (`make faults`, docs/recovery.md): devhost as a subprocess on a
free port with its own data directory, a dynamic group, a manual and a webhook target (a
receiver started here), thousands of asynchronous HR updates, `kill -9` while a backlog is
queued, restart on the same files, drain, heal, and every invariant asserted.

    python -m tests.faults.chaos [--seed N] [--updates 2000] [--persons 250] [--kills 3]

The seed (`FAULTS_SEED`) decides the updates and the kill points; the same seed replays the
same run. Only 127.0.0.1 is touched; the run is bounded (a time limit per phase).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from shared.bus.local import LocalBus
from shared.config import QUEUE_SETTINGS, Settings
from shared.runtime import Runtime
from shared.store.orders import OrderRepository
from shared.store.persons import PersonRepository
from tests.chain.harness import SECRET, SECRET_ENV, assert_invariants, receiver
from tests.factories import hr_update

ROOT = Path(__file__).resolve().parents[2]
ADMIN, HR = "chaos-admin", "chaos-hr"
KEYS = {ADMIN: ["Admin"], HR: ["Persons.Write", "Persons.Read"]}
FIN_RULE = 'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -eq "FIN")'
CHUNK = 40  # updates HR sends at once (concurrently): the backlog a kill meets
SENDERS = 8
START_TIMEOUT = 60.0
DRAIN_TIMEOUT = 300.0


@dataclass
class Update:
    source_id: str
    as_of: str
    organization: str
    ended: bool

    def body(self) -> dict:
        body = hr_update(source_id=self.source_id, as_of=self.as_of)
        body["affiliations"][0].update(organization=self.organization, end="2025-12-31" if self.ended else None)
        return body

    @property
    def member(self) -> bool:
        return self.organization == "FIN" and not self.ended


@dataclass
class Figures:
    seed: int
    updates: int
    persons: int
    kills: int = 0
    backlogs_at_kills: list[int] = field(default_factory=list)
    recovery_seconds: float = 0.0
    sweep: dict = field(default_factory=dict)
    orders: int = 0
    webhook_deliveries: int = 0


def plan_updates(rng: random.Random, updates: int, persons: int) -> list[Update]:
    """Joins, moves and leaves: each person's as_of strictly grows; some are never members."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    outsiders = {f"P{n:05d}" for n in range(0, persons, 10)}
    plan = []
    for n in range(updates):
        source_id = f"P{rng.randrange(persons):05d}"
        organization = "ENG" if source_id in outsiders or rng.random() < 0.25 else "FIN"
        plan.append(Update(source_id, (base + timedelta(seconds=n)).isoformat(), organization, rng.random() < 0.15))
    return plan


class Devhost:
    """`python -m devhost` in a subprocess, killed with SIGKILL and started again."""

    def __init__(self, workdir: Path, env: dict[str, str], lock_seconds: float):
        self.workdir, self.env, self.lock_seconds = workdir, env, lock_seconds
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.log = open(workdir / "devhost.log", "ab")  # noqa: SIM115 (kept for the process's life)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devhost", "--port", str(self.port), "--data-dir", str(self.workdir / "data"),
             "--settings", str(self.workdir / "local.settings.json"), "--poll-interval", "0.02",
             "--lock-seconds", str(self.lock_seconds)],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"devhost exited with {self.process.returncode}; see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("devhost did not start in time")

    def kill(self) -> None:
        """kill -9: no clean shutdown, locks held, whatever was half-done stays half-done."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def run(seed: int, updates: int = 2000, persons: int = 250, kills: int = 3, lock_seconds: float = 60.0,
        say=print) -> Figures:
    """One seeded run; raises AssertionError naming the broken invariant."""
    rng = random.Random(seed)
    plan = plan_updates(rng, updates, persons)
    chunks = -(-updates // CHUNK)
    kill_after = sorted(rng.sample(range(chunks // 5, chunks - 1), kills - 1)) + [chunks - 1]
    figures = Figures(seed, updates, persons)
    with tempfile.TemporaryDirectory(prefix="roster-faults-") as tmp, receiver() as hook:
        workdir = Path(tmp)
        settings = _write_settings(workdir)
        env = {**os.environ, SECRET_ENV: SECRET, "ROSTER_ALLOW_LOOPBACK": "true"}  # the receiver is on 127.0.0.1
        host = Devhost(workdir, env, lock_seconds)
        try:
            host.start()
            _setup(host, hook.url)
            latest: dict[str, Update] = {}
            for n, chunk in enumerate(_chunks(plan, CHUNK)):
                _post_all(host, chunk)
                latest.update((u.source_id, u) for u in chunk)
                if n in kill_after:
                    figures.backlogs_at_kills.append(_backlog(settings))
                    host.kill()
                    figures.kills += 1
                    started = time.monotonic()
                    host.start()
                    say(f"seed {seed}: kill -9 #{figures.kills} after update {(n + 1) * CHUNK} "
                        f"(backlog {figures.backlogs_at_kills[-1]} messages), restarted")
            horizon = timedelta(seconds=lock_seconds + 5)
            figures.sweep = _drain_and_heal(host, settings, horizon)
            figures.recovery_seconds = round(time.monotonic() - started, 2)
            _check(settings, latest, hook, figures)
        finally:
            host.stop()
    return figures


def _write_settings(workdir: Path) -> Settings:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())
    sample["Values"].update(ROSTER_API_KEYS=json.dumps(KEYS), ROSTER_CHAIN="async", ROSTER_TIMEZONE="UTC")
    (workdir / "local.settings.json").write_text(json.dumps(sample))
    return Settings.from_env({"ROSTER_STORE": f"sqlite:///{workdir}/data/roster.db",
                              "ROSTER_BUS_PATH": f"{workdir}/data/bus.db"})


def _setup(host: Devhost, hook_url: str) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    hook = {"url": hook_url, "secret_env": SECRET_ENV, "timeout_seconds": 5, "retries": 1}
    steps = [
        ("/api/targets", {"id": "wiki", "name": "Wiki", "connector": "manual"}),
        ("/api/targets", {"id": "hook", "name": "Hook", "connector": "webhook", "settings": hook}),
        ("/api/groups", {"id": "fin", "name": "Finance", "kind": "dynamic", "rule": FIN_RULE}),
        ("/api/targets/wiki/policies", {"group_id": "fin"}),
        ("/api/targets/hook/policies", {"group_id": "fin"}),
    ]
    for path, body in steps:
        response = httpx.post(f"{host.url}{path}", json=body, headers=admin, timeout=30)
        assert response.status_code in (200, 201), f"{path}: {response.status_code} {response.text[:200]}"


def _chunks(plan: list[Update], size: int) -> list[list[Update]]:
    return [plan[i:i + size] for i in range(0, len(plan), size)]


def _post_all(host: Devhost, chunk: list[Update]) -> None:
    """A burst of updates from several HR senders at once (each one's order is kept by as_of)."""
    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(lambda u: _post(host, u), chunk))


def _post(host: Devhost, update: Update) -> None:
    """HR's side: post until acknowledged (a refused connection while the host is down or
    dying is retried, as an HR feed would)."""
    for _ in range(100):
        try:
            response = httpx.post(f"{host.url}/api/persons", params={"mode": "async"}, json=update.body(),
                                  headers={"Authorization": f"Bearer {HR}"}, timeout=30)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        assert response.status_code == 202, f"{update.source_id}: {response.status_code} {response.text[:200]}"
        return
    raise AssertionError("HR could not deliver an update")


def _backlog(settings: Settings) -> int:
    bus = LocalBus(settings.bus_path)
    try:
        return sum(bus.active_count(settings.queue(q)) for q in QUEUE_SETTINGS)
    finally:
        bus.close()


def _due(settings: Settings, horizon: timedelta) -> bool:
    """A message is due within `horizon` — a lock the killed process held expires within the
    lock duration; dated changes scheduled for later do not count."""
    bus = LocalBus(settings.bus_path)
    try:
        soon = datetime.now(UTC) + horizon
        return any((due := bus.next_due(settings.queue(q))) is not None and due <= soon for q in QUEUE_SETTINGS)
    finally:
        bus.close()


def _drain(settings: Settings, horizon: timedelta) -> None:
    deadline, quiet = time.monotonic() + DRAIN_TIMEOUT, 0
    while quiet < 3:  # three quiet looks in a row: no function was between two messages
        if time.monotonic() > deadline:
            raise AssertionError(f"the chain did not drain within {DRAIN_TIMEOUT}s")
        quiet = 0 if _due(settings, horizon) else quiet + 1
        time.sleep(0.2)


def _drain_and_heal(host: Devhost, settings: Settings, horizon: timedelta) -> dict:
    """Drain, a whole sweep pass (through the Admin route, as an operator would), drain."""
    _drain(settings, horizon)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    total: dict = {"persons_checked": 0, "repairs": {}}
    for _ in range(3):  # the rest of a pass the timer began, then one whole pass
        figures = httpx.post(f"{host.url}/api/ops/sweep", params={"limit": "100000"}, headers=admin,
                             timeout=DRAIN_TIMEOUT).json()
        total["persons_checked"] += figures["persons_checked"]
        for kind, count in figures["repairs"].items():
            total["repairs"][kind] = total["repairs"].get(kind, 0) + count
        if figures["began_at_start"] and figures["pass_completed"]:
            break
    _drain(settings, horizon)
    return total


def _check(settings: Settings, latest: dict[str, Update], hook, figures: Figures) -> None:
    rt = Runtime(settings)
    try:
        outsiders = {s for s, u in latest.items() if int(s[1:]) % 10 == 0}
        assert_invariants(rt, {s: u.as_of for s, u in latest.items()}, hook, outsiders)
        persons, orders = PersonRepository(rt.store), OrderRepository(rt.store)
        figures.orders = sum(len(orders.of_person(persons.owner_of("hr", s))) for s in latest)
        figures.webhook_deliveries = len(hook.received)
    finally:
        rt.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.faults.chaos", description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=int(os.environ.get("FAULTS_SEED", "1")))
    p.add_argument("--runs", type=int, default=int(os.environ.get("FAULTS_RUNS", "1")),
                   help="seeds in a row: seed, seed+1, …")
    p.add_argument("--updates", type=int, default=2000)
    p.add_argument("--persons", type=int, default=250)
    p.add_argument("--kills", type=int, default=3)
    p.add_argument("--lock-seconds", type=float, default=60.0, help="the bus's peek-lock (Service Bus: 60)")
    args = p.parse_args(argv)
    for seed in range(args.seed, args.seed + args.runs):
        started = time.monotonic()
        figures = run(seed, args.updates, args.persons, args.kills, args.lock_seconds)
        print(json.dumps({**figures.__dict__, "run_seconds": round(time.monotonic() - started, 1)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
