"""What the chain left behind for a set of source records, with the random parts (person,
order and audit ids) taken out, so two runs of the same records can be compared: persons,
memberships, orders, assignments, audit trails, outbox rows, relay marks, pending matches
and messages waiting per queue (docs/architecture.md §10)."""

from __future__ import annotations

import json
from datetime import timedelta

from shared.config import QUEUE_SETTINGS
from shared.runtime import Runtime
from shared.store.audit import audit_trail
from shared.store.groups import MembershipRepository, person_partition
from shared.store.orders import OrderRepository
from shared.store.outbox import OutboxRepository
from shared.store.pending import PendingRepository, match_id
from shared.store.persons import PersonRepository

RANDOM_DETAILS = ("order_id", "person_id")
TIMES = {"created_at", "updated_at", "sources"}


def snapshot(rt: Runtime, keys: list[tuple[str, str]], exact: bool = True) -> dict:
    """Per (source, source id): the person and everything the chain derived from it; plus
    the relay marks left and the messages per queue. `exact` False keeps the facts only —
    no instants, order histories, audit trails or queue depths (a run that was restarted
    happened at other times)."""
    persons = PersonRepository(rt.store)
    found = {}
    for source, source_id in keys:
        person_id = persons.owner_of(source, source_id)
        held = PendingRepository(rt.store).get(match_id(source, source_id))
        found[f"{source}:{source_id}"] = {
            "held": (held.match.state, held.match.outcome) if held else None,
            **(_derived(rt, person_id, exact) if person_id else {}),
        }
    marks = OutboxRepository(rt.store).marks_before(rt.clock.now() + timedelta(days=1), 10_000)
    found["relay marks"] = sorted((table, partition.split(":")[0]) for m in marks for table, partition in m.places)
    if exact:
        found["queues"] = {q: rt.bus.active_count(rt.settings.queue(q)) for q in QUEUE_SETTINGS}
    return found


def _derived(rt: Runtime, person_id: str, exact: bool) -> dict:
    stored = PersonRepository(rt.store).get(person_id)
    memberships, orders = MembershipRepository(rt.store), OrderRepository(rt.store)
    state = memberships.state(person_id)
    found = {
        "person": stored.person.model_dump(mode="json", exclude={"id", *(() if exact else TIMES)}),
        "memberships": sorted((m.group_id, m.kind, m.reason, *((str(m.since),) if exact else ()))
                              for m in memberships.of_person(person_id)),
        "groups": state.groups,
        "orders": sorted((o.target_id, o.entitlement, o.action.value, o.reason, o.state.value,
                          *((o.attempts, tuple(e.state.value for e in o.history)) if exact else ()))
                         for o in orders.of_person(person_id)),
        "assignments": sorted((a.target_id, a.entitlement, a.status) for a in orders.assignments(person_id)),
        "outbox": sorted(m.queue for table, partition in _places(person_id)
                         for m in OutboxRepository(rt.store).pending(table, partition)),
    }
    if exact:
        found.update(state=(str(state.next_change), state.version), audit=sorted(_audits(rt, person_id)))
    return found


def _places(person_id: str) -> list[tuple[str, str]]:
    return [("persons", person_id), ("memberships", person_partition(person_id)), ("orders", f"person:{person_id}")]


def _audits(rt: Runtime, person_id: str) -> list[tuple]:
    records = []
    for table, partition in _places(person_id):
        for record in audit_trail(rt.store.table(table), partition):
            details = {k: v for k, v in record["details"].items() if k not in RANDOM_DETAILS}
            records.append((table, record["action"], record["why"], record["actor"],
                            json.dumps(details, sort_keys=True, default=str)))
    return records
