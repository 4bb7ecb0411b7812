"""The operations view of the chain (`GET /api/ops/chain`) and the replay of a dead letter.

`chain_view` returns one dict of sections: queue depths and dead letters per queue — the
bus's own dead-letter queue (MaxDeliveryCountExceeded, …) beside the messages a trigger
parked as malformed or refused — and each automatic target's circuit with the orders that
wait on it. The outbox backlog and the last sweep are sections of their own, filled by the
outbox and sweep (None until then). Reads that fail (a bus without the Manage right) show
as an `error` in their section, never as a failed view. docs/operations.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.bus import BusError
from shared.bus.port import DeadLetter, Inspector
from shared.config import QUEUE_SETTINGS
from shared.errors import Busy, FieldError, InvalidInput, NotFound
from shared.models.circuit import Circuit
from shared.models.provisioning import MANUAL, OrderState
from shared.runtime import Runtime
from shared.services.circuits import circuits
from shared.services.relay import outbox_backlog
from shared.services.sweep import last_sweep
from shared.store.audit import audit_entity, audit_trail
from shared.store.deadletters import DeadLetterRepository
from shared.store.orders import OrderRepository
from shared.store.targets import TargetRepository

SHOWN = 20  # dead letters shown per queue and source
WAITING_COUNTED = 1000  # orders counted per target; more shows as this number
REPLAYS = "replays"  # partition of the ops table holding the replay audit records


def chain_view(rt: Runtime) -> dict[str, Any]:
    """The chain at a glance, for an Admin."""
    return {
        "at": rt.clock.now(),
        "queues": [_queue(rt, queue) for queue in QUEUE_SETTINGS],
        "targets": _targets(rt),
        "replays": _recent_replays(rt),
        "outbox": {"backlog": outbox_backlog(rt)},  # messages a crash left for the relay
        "last_sweep": last_sweep(rt) or None,  # persons checked, repairs by kind
    }


def replay(rt: Runtime, queue: str, message_id: str, actor: str) -> dict[str, Any]:
    """Send a dead letter of the bus back to its queue, audited. 404 when it is not there."""
    if queue not in QUEUE_SETTINGS:
        raise InvalidInput("unknown queue", [FieldError("queue", f"one of {', '.join(QUEUE_SETTINGS)}")])
    try:
        new_id = _inspector(rt).replay(rt.settings.queue(queue), message_id)
    except BusError as error:
        raise Busy(f"the bus could not replay the message now; retry ({error})") from None
    if new_id is None:
        raise NotFound(f"no dead letter {message_id!r} on {queue}")
    now = rt.clock.now()
    details = {"queue": queue, "message_id": message_id, "new_message_id": new_id}
    rt.store.table("ops").insert(audit_entity(REPLAYS, now, actor, "deadletter.replayed",
                                              f"replayed {message_id} on {queue}", details))
    return {**details, "replayed_at": now, "by": actor}


def _inspector(rt: Runtime) -> Inspector:
    return rt.bus  # type: ignore[return-value]  # both adapters implement Inspector


def _queue(rt: Runtime, queue: str) -> dict[str, Any]:
    name = rt.settings.queue(queue)
    parked = list(DeadLetterRepository(rt.store).list(queue, limit=SHOWN))
    section: dict[str, Any] = {
        "queue": queue, "name": name, "active": None, "scheduled": None, "dead_lettered": None,
        "dead_letters": [], "parked": [_parked(item) for item in parked], "error": None,
    }
    try:
        depth = _inspector(rt).depth(name)
        letters = _inspector(rt).dead_letters(name, limit=SHOWN)
    except BusError as error:
        section["error"] = str(error)
        return section
    section.update(active=depth.active, scheduled=depth.scheduled, dead_lettered=depth.dead_lettered,
                   dead_letters=[_letter(letter) for letter in letters])
    return section


def _letter(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter without its body (it may hold personal data): enough to decide on a replay."""
    return {
        "message_id": letter.message_id, "reason": letter.reason, "description": letter.description,
        "delivery_count": letter.delivery_count, "dead_lettered_at": letter.dead_lettered_at,
        "size": len(letter.body),
    }


def _parked(item: dict[str, Any]) -> dict[str, Any]:
    return {"message_id": item["message_id"], "reason": item.get("reason"), "description": item.get("description"),
            "delivery_count": item.get("delivery_count"), "parked_at": item.get("at")}


def _targets(rt: Runtime) -> list[dict[str, Any]]:
    """Each automatic target: its circuit, when a paused one is probed next, and how many
    of its orders wait (Pending)."""
    known = {circuit.target_id: circuit for circuit in circuits(rt)}
    cooldown = timedelta(seconds=rt.settings.circuit_cooldown_seconds)
    repo, rows = OrderRepository(rt.store), []
    for target in TargetRepository(rt.store).all():
        if target.connector == MANUAL:
            continue
        circuit = known.get(target.id) or Circuit(target_id=target.id)
        rows.append({
            "target_id": target.id, "connector": target.connector, "circuit": circuit.state.value,
            "failures": circuit.failures, "last_fault": circuit.last_fault, "opened_at": circuit.opened_at,
            "next_probe_at": circuit.next_probe_at(cooldown),
            "waiting": sum(1 for _ in repo.queue(target.id, OrderState.pending, limit=WAITING_COUNTED)),
        })
    return rows


def _recent_replays(rt: Runtime, count: int = 10) -> list[dict[str, Any]]:
    return list(audit_trail(rt.store.table("ops"), REPLAYS))[-count:]
