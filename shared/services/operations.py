"""The operations view of the chain (`GET /api/ops/chain`, the console's Operations page),
the replay of a dead letter, the bus's dead letters a page at a time, and a sweep run by hand.

`chain_view` returns one dict of sections: queue depths and dead letters per queue — the
bus's own dead-letter queue (MaxDeliveryCountExceeded, …) beside the messages a trigger
parked as malformed or refused — each automatic target's circuit with the orders that
wait on it, orders by state per target (bounded counts: shared/services/order_counts.py),
the groups' re-evaluations with their progress, the outbox backlog, the last sweep (None
until the first run), and `day_one`: whether the chain has finished its work (a pure
function of the other sections). Reads that fail (a bus without the Manage right)
show as an `error` in their section, never as a failed view. docs/operations.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.bus import BusError
from shared.bus.port import DeadLetter, Inspector
from shared.config import QUEUE_SETTINGS
from shared.errors import Busy, NotFound
from shared.models.circuit import Circuit
from shared.models.provisioning import MANUAL, OrderState
from shared.runtime import Runtime
from shared.services import deadletters
from shared.services.circuits import circuits
from shared.services.groups import reevaluations
from shared.services.order_counts import orders_by_state
from shared.services.paging import Page
from shared.services.relay import outbox_backlog
from shared.services.sweep import last_sweep, sweep
from shared.store.audit import audit_entity, audit_trail
from shared.store.deadletters import DeadLetterRepository

SHOWN = 20  # dead letters shown per queue and source
REPLAYS = "replays"  # partition of the ops table holding the replay audit records
SWEEPS = "sweeps"  # partition of the ops table holding the audit records of sweeps run by hand
WAITING = (OrderState.pending.value,)  # an automatic order in these states is work the chain still has to do
STAFF_WORK = (OrderState.awaiting_approval.value, OrderState.pending.value, OrderState.transmitted.value)


def chain_view(rt: Runtime) -> dict[str, Any]:
    """The chain at a glance, for an Admin."""
    orders = orders_by_state(rt)
    view = {
        "at": rt.clock.now(),
        "queues": [_queue(rt, queue) for queue in QUEUE_SETTINGS],
        "targets": _targets(rt, orders),
        "orders": orders,
        "reevaluations": reevaluations(rt),
        "replays": _recent_replays(rt),
        "outbox": {"backlog": outbox_backlog(rt)},  # messages a crash left for the relay
        "last_sweep": last_sweep(rt) or None,  # persons checked, repairs by kind
    }
    return {**view, "day_one": day_one(view)}


def day_one(view: dict[str, Any]) -> dict[str, Any]:
    """Has the chain finished its work? `finished` is True when every check passes, False
    when one fails, None when one cannot be read (the bus without the Manage right).
    Each check: `check`, `count` (what is left; None when unknown) and `ok`. The `notes`
    count what is not the chain's work: messages scheduled for later (dated changes,
    digests), messages refused as malformed, orders waiting on staff and Errored ones."""
    checks = _checks(view)
    oks = [c["ok"] for c in checks]
    finished = False if False in oks else None if None in oks else True
    return {"finished": finished, "checks": checks, "notes": _notes(view["queues"], view["orders"])}


def _checks(view: dict[str, Any]) -> list[dict[str, Any]]:
    queues, targets = view["queues"], view["targets"]
    return [
        _check("queued", _total(q["active"] for q in queues)),
        _check("dead_lettered", _total(q["dead_lettered"] for q in queues)),
        _check("outbox", view["outbox"]["backlog"]),
        _check("orders_waiting", sum(t["waiting"] for t in targets)),
        _check("targets_paused", sum(1 for t in targets if t["circuit"] != "closed")),
        _check("reevaluations_running", sum(1 for j in view["reevaluations"] if j["finished_at"] is None)),
    ]


def _notes(queues: list[dict[str, Any]], orders: list[dict[str, Any]]) -> dict[str, int | None]:
    def staff(row: dict[str, Any]) -> int:
        states = STAFF_WORK if row["connector"] == MANUAL else (OrderState.awaiting_approval.value,)
        return sum(row["counts"][state] for state in states)

    return {
        "scheduled": _total(q["scheduled"] for q in queues),
        "refused": sum(len(q["parked"]) for q in queues),
        "staff_work": sum(staff(row) for row in orders),
        "errored": sum(row["counts"][OrderState.errored.value] for row in orders),
    }


def _check(name: str, count: int | None) -> dict[str, Any]:
    return {"check": name, "count": count, "ok": None if count is None else count == 0}


def _total(counts) -> int | None:
    """The sum, or None when any count is unknown."""
    values = list(counts)
    return None if None in values else sum(values)


def dead_letter_page(rt: Runtime, queue: str, page: Page) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the bus's dead letters of `queue`, oldest first, without bodies; the
    cursor is the bus's sequence number. Busy (503) when the bus cannot be read now."""
    deadletters.check_queue(queue)
    try:
        letters = _inspector(rt).dead_letters(rt.settings.queue(queue), limit=page.limit + 1, start=page.cursor)
    except BusError as error:
        raise Busy(f"the bus could not be read now; retry ({error})") from None
    return page.take((letter.sequence, _letter(letter)) for letter in letters)


def refused_page(rt: Runtime, queue: str, page: Page) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the messages `queue`'s trigger refused as malformed, without bodies."""
    items, following = deadletters.parked_page(rt, queue, page)
    return [_parked(item) for item in items], following


def run_sweep(rt: Runtime, limit: int, actor: str) -> dict[str, Any]:
    """One batch of the self-healing sweep now, at an operator's request: its figures. The
    run is audited (who asked, the figures); each repair is audited in the person's trail."""
    figures = sweep(rt, limit)
    why = f"sweep run by hand: {figures['persons_checked']} persons checked"
    rt.store.table("ops").insert(audit_entity(SWEEPS, rt.clock.now(), actor, "sweep.run", why, figures))
    return figures


def replay(rt: Runtime, queue: str, message_id: str, actor: str) -> dict[str, Any]:
    """Send a dead letter of the bus back to its queue, audited. 404 when it is not there."""
    deadletters.check_queue(queue)
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


def _targets(rt: Runtime, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each automatic target: its circuit, when a paused one is probed next, and how many
    of its orders wait (Pending, counted up to order_counts.COUNTED)."""
    known = {circuit.target_id: circuit for circuit in circuits(rt)}
    cooldown = timedelta(seconds=rt.settings.circuit_cooldown_seconds)
    rows = []
    for target in orders:
        if target["connector"] == MANUAL:
            continue
        circuit = known.get(target["target_id"]) or Circuit(target_id=target["target_id"])
        rows.append({
            "target_id": target["target_id"], "connector": target["connector"], "circuit": circuit.state.value,
            "failures": circuit.failures, "last_fault": circuit.last_fault, "opened_at": circuit.opened_at,
            "next_probe_at": circuit.next_probe_at(cooldown),
            "waiting": sum(target["counts"][state] for state in WAITING),
        })
    return rows


def _recent_replays(rt: Runtime, count: int = 10) -> list[dict[str, Any]]:
    """The last `count` replays, read from a day back, then a month, then all: the page
    view does not read the whole replay history once it is long."""
    table, now = rt.store.table("ops"), rt.clock.now()
    for since in (now - timedelta(days=1), now - timedelta(days=31)):
        recent = list(audit_trail(table, REPLAYS, since))
        if len(recent) >= count:
            return recent[-count:]
    return list(audit_trail(table, REPLAYS))[-count:]
