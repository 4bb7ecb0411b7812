"""Operations: health, the OpenAPI description, the outbox, dead-lettered messages, the
operations view of the chain and the replay of a dead letter (docs/operations.md); the
timers that keep the chain whole (the outbox relay's safety net, the self-healing sweep)."""

from __future__ import annotations

import logging
from typing import Annotated

import azure.functions as func
from pydantic import StringConstraints

from functions.http import PAGED, Call, endpoint, listed
from functions.openapi import describe
from shared import telemetry
from shared.errors import FieldError, InvalidInput
from shared.models.base import Model
from shared.models.role import Role
from shared.runtime import runtime
from shared.services import deadletters, notifications, operations
from shared.services.relay import relay_stale
from shared.services.sweep import sweep

VERSION = "0.1.0"
bp = func.Blueprint()
log = logging.getLogger("roster.ops")


@endpoint(bp, "health", name="ops_health", methods=("GET",), role=None, public=True,
          summary="Liveness and the adapters in use (no authentication)")
def health(call: Call):
    settings = call.rt.settings
    return {
        "status": "ok",
        "version": VERSION,
        "store": settings.store.split(":", 1)[0] if settings.store.startswith("sqlite") else "azure_tables",
        "bus": settings.bus,
        "mail": settings.mail,
        "chain": settings.chain,
        "time": call.rt.clock.now(),
    }


@endpoint(bp, "openapi.json", name="ops_openapi", methods=("GET",), role=None,
          summary="OpenAPI 3.1 description of every HTTP function")
def openapi(call: Call):
    return describe(VERSION)


@endpoint(bp, "outbox", name="ops_outbox", methods=("GET",), role=Role.admin, query=PAGED,
          statuses=(200, 400, 422), summary="Emails the outbox mailer stored (when ROSTER_MAIL=outbox), oldest first, paged")
def outbox(call: Call):
    return listed(notifications.stored_email_page(call.rt, call.page("outbox")))


@endpoint(bp, "deadletters", name="ops_deadletters", methods=("GET",), role=Role.admin, query=("queue", *PAGED),
          statuses=(200, 400, 422), summary="Messages refused as malformed, with the reason, per queue, paged")
def list_deadletters(call: Call):
    queue = call.query("queue", required=True)
    return listed(deadletters.parked_page(call.rt, queue, call.page("deadletters", queue=queue)))


class ReplayIn(Model):
    queue: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    message_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]


@endpoint(bp, "ops/chain", name="ops_chain", methods=("GET",), role=Role.admin,
          summary="The chain at a glance: queues, dead letters, targets, orders by state, re-evaluations, day one")
def chain(call: Call):
    return operations.chain_view(call.rt)


@endpoint(bp, "ops/chain/deadletters", name="ops_chain_deadletters", methods=("GET",), role=Role.admin,
          query=("queue", *PAGED), statuses=(200, 400, 422, 503),
          summary="The bus's own dead letters of a queue (no bodies), oldest first, paged")
def chain_dead_letters(call: Call):
    queue = call.query("queue", required=True)
    return listed(operations.dead_letter_page(call.rt, queue, call.page("ops.deadletters", queue=queue)))


@endpoint(bp, "ops/chain/replay", name="ops_chain_replay", methods=("POST",), role=Role.admin, body=ReplayIn,
          statuses=(200, 404, 422, 503), summary="Send a dead letter of the bus back to its queue (audited)")
def replay(call: Call):
    return operations.replay(call.rt, call.body.queue, call.body.message_id, call.actor)


@endpoint(bp, "ops/sweep", name="ops_sweep", methods=("POST",), role=Role.admin, query=("limit",),
          summary="Run one batch of the self-healing sweep now (from its cursor); its figures")
def run_sweep(call: Call):
    raw = call.query("limit") or str(call.rt.settings.sweep_batch)
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise InvalidInput("limit is out of range", [FieldError("limit", "1..100000")])
    return operations.run_sweep(call.rt, int(raw), call.actor)


@bp.function_name("outbox_relay")
@bp.timer_trigger(arg_name="timer", schedule="30 * * * * *", run_on_startup=True)
def outbox_relay(timer: func.TimerRequest) -> None:
    """Safety net under the relay after each write: messages a crash left in an outbox."""
    figures = relay_stale(runtime())
    if figures["published"]:
        log.info("outbox relay published %d messages from %d marks", figures["published"], figures["marks"])


@bp.function_name("chain_sweep")
@bp.timer_trigger(arg_name="timer", schedule="0 */2 * * * *", run_on_startup=False)
def chain_sweep(timer: func.TimerRequest) -> None:
    """The self-healing sweep: the next batch of persons checked and repaired."""
    rt = runtime()
    with telemetry.span("timer chain_sweep"):  # what a repair sends on joins this trace
        figures = sweep(rt, rt.settings.sweep_batch)
    if figures["repairs"]:
        log.warning("sweep repaired %s in %d persons", figures["repairs"], figures["persons_checked"])
