"""Roster in-process on SQLite files, driven through the app's own trigger functions, with
faults injected in the ports; and the invariants of a whole chain (docs/architecture.md §10).

Plain module (not a conftest): the crash-point tests and the randomised run share it.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import azure.functions as func

import function_app
from devhost.pump import to_message
from shared.bus.local import LocalBus
from shared.clock import TravelClock
from shared.config import QUEUE_SETTINGS, Settings
from shared.faults import FaultPlan, FaultyBus, FaultyStore
from shared.models.provisioning import MANUAL, OrderState
from shared.runtime import Runtime, use_runtime
from shared.services.relay import relay_stale
from shared.services.rulebook import rulebook
from shared.services.sweep import sweep
from shared.store.deadletters import DeadLetterRepository
from shared.store.groups import MembershipRepository
from shared.store.orders import OrderRepository
from shared.store.persons import PersonRepository
from shared.store.sqlite import SqliteStore
from shared.store.targets import TargetRepository

TRIGGERS = {
    "person-update": "person_update_queue",
    "person-changed": "person_changed_queue",
    "group-update": "group_update_queue",
    "provisioning-order": "provisioning_order_queue",
    "notification": "notification_queue",
    "group-reevaluation": "group_reevaluation_queue",
}
BATCHED = {"provisioning-order"}  # batch triggers (cardinality=many): they get a list, one session's
BATCH_SIZE = 250  # host.json maxMessageBatchSize
SECRET_ENV, SECRET = "ROSTER_TARGET_SECRET_CHAIN_TEST", "whsec-chain"
TICK = timedelta(milliseconds=1)  # time moves on between two messages, as it does
RESTART_AFTER = timedelta(minutes=5)  # locks of the dead process expired, relay grace and stuck age passed


def app_functions() -> dict[str, Any]:
    """Name → user function of a fresh FunctionApp (get_functions may run once per app)."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    for blueprint in function_app.BLUEPRINTS:
        app.register_functions(blueprint)
    return {f.get_function_name(): f.get_user_function() for f in app.get_functions()}


class Receiver:
    """A webhook endpoint on 127.0.0.1 recording (order id, body) per order delivered: the
    X-Roster-Order header and the body of a single delivery, each entry of a batch
    (answered 200 without results: every order of it done). `posts` counts the requests."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict]] = []
        self.posts: list[int] = []  # orders per request
        received, posts = self.received, self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                entries = [(e["order"]["id"], e) for e in body["orders"]] if "orders" in body else \
                    [(self.headers.get("X-Roster-Order", ""), body)]
                received.extend(entries)
                posts.append(len(entries))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@dataclass
class Roster:
    """One 'process': a runtime on the data directory's files, optionally with faults."""

    data: Path
    clock: TravelClock
    plan: FaultPlan | None = None
    functions: dict[str, Any] = field(default_factory=app_functions)
    more_settings: dict[str, str] = field(default_factory=dict)  # e.g. ROSTER_API_KEYS for HTTP calls

    def __post_init__(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.settings = Settings.from_env({
            "ROSTER_STORE": f"sqlite:///{self.data}/roster.db", "ROSTER_BUS_PATH": f"{self.data}/bus.db",
            "ROSTER_TIMEZONE": "UTC", "ROSTER_CHAIN": "async",
            "ROSTER_ALLOW_LOOPBACK": "true",  # the test's webhook receiver listens on 127.0.0.1
            **self.more_settings})
        store, bus = SqliteStore(f"{self.data}/roster.db"), LocalBus(f"{self.data}/bus.db", clock=self.clock)
        if self.plan is not None:
            store, bus = FaultyStore(store, self.plan), FaultyBus(bus, self.plan)
        self.rt = Runtime(self.settings, clock=self.clock, store=store, bus=bus)
        self.receiver_bus = LocalBus(f"{self.data}/bus.db", clock=self.clock)
        use_runtime(self.rt)

    def close(self) -> None:
        use_runtime(None)
        self.receiver_bus.close()
        self.rt.close()

    def drain(self, limit: int = 5000, skip: frozenset[str] = frozenset()) -> int:
        """Hand every due message to its trigger until none is due (but those of the queues
        in `skip`); returns how many ran. A SimulatedCrash propagates: the message stays
        locked, as when a process dies."""
        handled = 0
        while handled < limit:
            progressed = False
            for queue, function in TRIGGERS.items():
                if queue in skip:
                    continue
                batch = queue in BATCHED
                deliveries = self.receiver_bus.receive_batch(queue, BATCH_SIZE if batch else 1)
                if not deliveries:
                    continue
                progressed, handled = True, handled + len(deliveries)
                self.clock.advance(TICK)
                messages = [to_message(d) for d in deliveries]
                try:
                    self.functions[function](messages if batch else messages[0])
                except Exception:
                    for delivery in deliveries:
                        self.receiver_bus.abandon(delivery)
                    continue
                if self.plan is not None:
                    self.plan.step(f"complete {queue}")
                self.receiver_bus.complete_batch(deliveries)
            if not progressed:
                return handled
        raise AssertionError(f"the chain did not drain within {limit} messages")

    def recover(self) -> None:
        """What a restarted host does: relay what crashes left, drain, sweep everyone, drain."""
        relay_stale(self.rt)
        self.drain()
        sweep(self.rt, limit=100_000)
        self.drain()


def copy_data(source: Path, target: Path) -> Path:
    """A data directory copied file by file (the template of a run; its runtime closed)."""
    shutil.copytree(source, target)
    return target


def restart(old: Roster) -> Roster:
    """kill -9 and start again: the dead process's locks expire, a fresh runtime on the files."""
    old.close()
    old.clock.advance(RESTART_AFTER)
    return Roster(old.data, old.clock, more_settings=old.more_settings)


# -- invariants --------------------------------------------------------------------------------


def assert_invariants(rt: Runtime, latest: dict[str, str], receiver: Receiver | None = None,
                      outsiders: set[str] = frozenset()) -> None:
    """The invariants of docs/architecture.md §10, each asserted with a message. `latest`:
    source id → the as_of of its latest update; `outsiders`: source ids never in a group
    that grants anything (they must have no order at all)."""
    persons = PersonRepository(rt.store)
    ids = {}
    for source_id, as_of in latest.items():
        person_id = persons.owner_of("hr", source_id)
        assert person_id is not None, f"{source_id}: never registered"
        stamp = persons.get(person_id).person.sources["hr"].as_of.isoformat()
        assert stamp == as_of, f"{source_id}: at {stamp}, not at the latest update {as_of}"
        ids[source_id] = person_id
    _assert_memberships_agree(rt, set(ids.values()))
    _assert_orders(rt, set(ids.values()))
    for source_id in outsiders:
        assert not OrderRepository(rt.store).of_person(ids[source_id]), f"{source_id}: orders for a non-member"
    if receiver is not None:
        _assert_webhook_effects(rt, receiver, set(ids.values()))
    _assert_dead_letters_explained(rt)


def _assert_memberships_agree(rt: Runtime, person_ids: set[str]) -> None:
    repo = MembershipRepository(rt.store)
    for group_id in rulebook(rt.store, rt.clock).groups:
        mirrored = set(repo.mirrored_person_ids(group_id)) & person_ids
        members = {p for p in person_ids if repo.get(p, group_id) is not None}
        assert mirrored == members, f"{group_id}: group side {sorted(mirrored)} != person side {sorted(members)}"
    for person_id in person_ids:
        state = set(repo.state(person_id).groups)
        rows = {m.group_id for m in repo.of_person(person_id)}
        assert state == rows, f"{person_id}: state {sorted(state)} != rows {sorted(rows)}"


def _assert_orders(rt: Runtime, person_ids: set[str]) -> None:
    """Per (person, target, entitlement) the orders that were not superseded alternate
    grant, removal, grant, … beginning with a grant and ending as the memberships say now:
    one create_account per membership, none for a non-member, nothing doubled. No order
    waits where nothing moves it, and each is listed in exactly the worklist of its state."""
    orders, targets = OrderRepository(rt.store), {t.id: t for t in TargetRepository(rt.store).all()}
    wanted = _wanted_accounts(rt, person_ids, targets)
    for person_id in person_ids:
        sequences: dict[tuple[str, str], list[str]] = defaultdict(list)
        for order in orders.of_person(person_id):
            _assert_moves_on(orders, order, targets)
            if order.state != OrderState.inactive and (order.action.grants or order.action.removes):
                sequences[(order.target_id, order.entitlement)].append(
                    "grant" if order.action.grants else "removal")
        for key in {k for k in sequences} | {(t, "account") for (p, t) in wanted if p == person_id}:
            kinds = sequences.get(key, [])
            member = (person_id, key[0]) in wanted
            assert not kinds or kinds[0] == "grant", f"{person_id} {key}: begins with a removal: {kinds}"
            assert all(a != b for a, b in zip(kinds, kinds[1:], strict=False)), f"{person_id} {key}: doubled: {kinds}"
            assert (bool(kinds) and kinds[-1] == "grant") == member, \
                f"{person_id} {key}: {'member' if member else 'not a member'} but orders say {kinds}"


def _assert_moves_on(orders: OrderRepository, order, targets: dict) -> None:
    assert order.state != OrderState.pending, f"{order.id}: Pending with no next step after the drain"
    if order.state == OrderState.awaiting_approval:
        assert targets[order.target_id].approval != "none", f"{order.id}: awaits approval for nothing"
    if order.state == OrderState.transmitted:
        assert targets[order.target_id].connector == MANUAL, f"{order.id}: Transmitted, automatic"
    listed = orders.listed_in(order)
    assert listed == [order.state], f"{order.id} is {order.state.value} but listed in {listed}"


def _wanted_accounts(rt: Runtime, person_ids: set[str], targets: dict) -> set[tuple[str, str]]:
    """(person, target) pairs whose account the person's current groups ask for."""
    repo, policies = MembershipRepository(rt.store), TargetRepository(rt.store)
    grants = {(p.group_id, t) for t in targets for p in policies.policies(t)}
    return {(person_id, t) for person_id in person_ids for g in repo.state(person_id).groups
            for (group, t) in grants if group == g}


def _assert_webhook_effects(rt: Runtime, receiver: Receiver, person_ids: set[str]) -> None:
    by_key: dict[str, list[dict]] = defaultdict(list)
    for key, body in receiver.received:
        by_key[key].append(body["order"])
    for key, bodies in by_key.items():
        assert all(b == bodies[0] for b in bodies), f"{key}: one idempotency key, different effects"
        assert bodies[0]["id"] == key, f"{key}: the key is not the order's"
    hooked = [o for p in person_ids for o in OrderRepository(rt.store).of_person(p)
              if TargetRepository(rt.store).get(o.target_id).connector == "webhook"
              and o.state in (OrderState.executed, OrderState.verified)]
    for order in hooked:
        assert order.id in by_key, f"{order.id}: Executed but the receiver never saw it"


def _assert_dead_letters_explained(rt: Runtime) -> None:
    for queue in QUEUE_SETTINGS:
        for letter in rt.bus.dead_letters(rt.settings.queue(queue)):  # type: ignore[union-attr]
            assert letter.reason, f"a dead letter on {queue} without a reason"
        for parked in DeadLetterRepository(rt.store).list(queue):
            assert parked["reason"], f"a parked message on {queue} without a reason"
