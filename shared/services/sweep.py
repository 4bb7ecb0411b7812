"""The self-healing sweep (anti-entropy, docs/architecture.md §10).

A timer runs it; each run checks the next `limit` persons of the directory after a stored
cursor (bounded work, so it scales to any registry: a pass over a million persons is many
small runs) and repairs, per person, what diverged between the places that must agree:

- `outbox`: messages still waiting in the person's partitions are published;
- `membership`: the stored memberships against the rules and dates now;
- `group mirror`: the per-group member rows against the person's memberships;
- `stuck order`: a Pending order nobody moves (its message lost, or a manual one never
  put on the worklist) is resumed;
- `missing order`: memberships × policies against assignments and orders;
- `order index`: each order listed in exactly the worklist of its state;
- `assignment index`: the `assigned:<target>` rows against the assignments.

Every repair is audited in the person's trail ("healed: …"); the run's figures are kept
for the operations view (`last_sweep`). Each run also removes console sessions past their
maximum age (`sessions.sweep_ended`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from shared.runtime import Runtime
from shared.services import sessions
from shared.services.membership import evaluate_person
from shared.services.provisioning import evaluate_provisioning, resume_pending
from shared.services.relay import relay_partition
from shared.services.rulebook import rulebook
from shared.store.audit import audit_entity
from shared.store.groups import MembershipRepository, person_partition
from shared.store.orders import OrderRepository
from shared.store.sweep import SweepRepository

BATCH = 200  # persons per run
STUCK_AFTER = timedelta(minutes=2)  # a Pending order untouched this long has lost its way
ACTOR = "roster:sweep"


def sweep(rt: Runtime, limit: int = BATCH) -> dict:
    """Check the next `limit` persons after the cursor; returns (and keeps) the figures."""
    started, clock = rt.clock.now(), time.perf_counter()
    repo = SweepRepository(rt.store)
    cursor = repo.cursor()
    person_ids, after = repo.next_persons(cursor, limit)
    repairs: Counter[str] = Counter()
    for person_id in person_ids:
        repairs.update(check_person(rt, person_id))
    repo.advance(cursor, after)
    ended = sessions.sweep_ended(rt)
    figures = {
        "started_at": started.isoformat(), "seconds": round(time.perf_counter() - clock, 3),
        "persons_checked": len(person_ids), "repairs": dict(sorted(repairs.items())), "console_sessions_ended": ended,
        "began_at_start": cursor.bucket == 0 and not cursor.after, "pass_completed": after.passes > cursor.passes,
        "passes_completed": after.passes,
    }
    repo.record(figures)
    return figures


def last_sweep(rt: Runtime) -> dict:
    """The last run's figures (for the operations view); empty before the first run."""
    return SweepRepository(rt.store).last() or {}


def check_person(rt: Runtime, person_id: str) -> Counter[str]:
    """Every check on one person; returns the repairs made, by kind (each one audited)."""
    repairs: Counter[str] = Counter()
    for kind, check in CHECKS:
        count = check(rt, person_id)
        if count:
            repairs[kind] += count
            _audit(rt, person_id, kind, count)
    return repairs


def _outbox(rt: Runtime, person_id: str) -> int:
    return sum(relay_partition(rt, table, partition) for table, partition in (
        ("persons", person_id), ("memberships", person_partition(person_id)), ("orders", person_partition(person_id))))


def _membership(rt: Runtime, person_id: str) -> int:
    change = evaluate_person(rt, person_id, "healed: the sweep found the memberships out of date", ACTOR,
                             announce=False)
    return len(change.added) + len(change.removed)


def _mirror(rt: Runtime, person_id: str) -> int:
    return MembershipRepository(rt.store).repair(person_id, sorted(rulebook(rt.store, rt.clock).groups))


def _stuck(rt: Runtime, person_id: str) -> int:
    return resume_pending(rt, person_id, before=rt.clock.now() - STUCK_AFTER)


def _missing(rt: Runtime, person_id: str) -> int:
    created = evaluate_provisioning(rt, person_id, "healed: the sweep found access out of line", ACTOR,
                                    resume=False)  # Pending orders are `_stuck`'s, by age
    return len(created)


def _order_index(rt: Runtime, person_id: str) -> int:
    repo, fixes = OrderRepository(rt.store), 0
    for order in repo.of_person(person_id):
        listed = repo.listed_in(order)
        if order.state not in listed:
            repo.list_in(order, order.state)
            fixes += 1
        for state in listed:
            if state != order.state:
                repo.unlist(order, state)
                fixes += 1
    return fixes


def _assignment_index(rt: Runtime, person_id: str) -> int:
    repo, fixes = OrderRepository(rt.store), 0
    for a in repo.assignments(person_id):
        indexed = repo.assigned_status(a.target_id, person_id, a.entitlement)
        expected = None if a.status == "removed" else a.status
        if indexed != expected:
            repo.index_assignment(a)
            fixes += 1
    return fixes


CHECKS: tuple[tuple[str, Callable[[Runtime, str], int]], ...] = (
    ("outbox", _outbox),
    ("membership", _membership),
    ("group mirror", _mirror),
    ("stuck order", _stuck),
    ("missing order", _missing),
    ("order index", _order_index),
    ("assignment index", _assignment_index),
)


def _audit(rt: Runtime, person_id: str, kind: str, count: int) -> None:
    record = audit_entity(person_id, rt.clock.now(), ACTOR, "sweep.healed", f"healed: {kind}",
                          {"kind": kind, "repairs": count})
    rt.store.table("persons").insert(record)
