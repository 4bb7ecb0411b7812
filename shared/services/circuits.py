"""Circuit breakers per target (the model: shared/models/circuit.py): whether an order may
call its target now, and what an attempt's outcome does to the target's circuit.

Opening and closing a circuit are audited in partition `circuits` of the circuits table.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shared.connectors import Outcome
from shared.models.circuit import Circuit, CircuitState
from shared.models.provisioning import Target
from shared.runtime import Runtime
from shared.store.audit import audit_entity
from shared.store.circuits import CIRCUITS, CircuitRepository
from shared.store.contention import retrying
from shared.store.port import BatchFailed, Entity, EntityExists, ETagMismatch

log = logging.getLogger("roster.circuits")


def cooldown(rt: Runtime) -> timedelta:
    return timedelta(seconds=rt.settings.circuit_cooldown_seconds)


def admit(rt: Runtime, target: Target) -> datetime | None:
    """None when an order may call `target` now (perhaps as the probe of a paused one);
    otherwise when it may try again."""
    repo = CircuitRepository(rt.store)

    def step() -> datetime | None:
        circuit, etag = repo.get(target.id)
        if circuit.state == CircuitState.closed:
            return None
        now = rt.clock.now()
        until = circuit.wait_until(now, cooldown(rt))
        if until is None:  # the cooldown is over: this order is the probe
            _save(repo, circuit.probing(now), etag, [])
        return until

    return retrying(step, f"the circuit of target {target.id} is being changed by others; retry")


def record(rt: Runtime, target: Target, outcome: Outcome) -> Circuit:
    """Count a transient fault (opening the circuit at the threshold, or when the probe
    fails); any answer of the target closes it again."""
    repo = CircuitRepository(rt.store)

    def step() -> Circuit:
        circuit, etag = repo.get(target.id)
        now = rt.clock.now()
        if outcome.transient:
            after = circuit.after_fault(outcome.note, now, rt.settings.circuit_failures)
        elif circuit.quiet:
            return circuit
        else:
            after = circuit.after_answer(now)
        _save(repo, after, etag, _audits(circuit, after, now))
        return after

    return retrying(step, f"the circuit of target {target.id} is being changed by others; retry")


def circuits(rt: Runtime) -> list[Circuit]:
    """Every stored circuit (a target without one is closed)."""
    return CircuitRepository(rt.store).all()


def _audits(before: Circuit, after: Circuit, now: datetime) -> list[Entity]:
    """An audit record when the circuit opens or closes; none while it only counts."""
    if after.state == CircuitState.open and after.opened_at == now:
        why = f"paused after {after.failures} transient faults in a row: {after.last_fault}"
        log.warning("circuit of target %s opened: %s", after.target_id, after.last_fault)
        return [_audit(after, now, "circuit.opened", why, before)]
    if after.state == CircuitState.closed and before.state != CircuitState.closed:
        log.info("circuit of target %s closed", after.target_id)
        return [_audit(after, now, "circuit.closed", "the target answered again", before)]
    return []


def _audit(circuit: Circuit, now: datetime, action: str, why: str, before: Circuit) -> Entity:
    details = {"target_id": circuit.target_id, "from": before.state.value, "failures": circuit.failures}
    return audit_entity(CIRCUITS, now, "roster", action, why, details)


def _save(repo: CircuitRepository, circuit: Circuit, etag: str | None, audits: list[Entity]) -> None:
    try:
        repo.save(circuit, etag, audits)
    except BatchFailed as failed:  # the circuit row changed (or appeared) meanwhile: read again
        if isinstance(failed.cause, ETagMismatch | EntityExists):
            raise failed.cause from None
        raise
