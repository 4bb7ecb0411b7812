"""Operations: health, the OpenAPI description, the outbox, dead-lettered messages, the
operations view of the chain and the replay of a dead letter (docs/operations.md)."""

from __future__ import annotations

from typing import Annotated

import azure.functions as func
from pydantic import StringConstraints

from functions.http import Call, endpoint
from functions.openapi import describe
from shared.config import QUEUE_SETTINGS
from shared.errors import FieldError, InvalidInput
from shared.models.base import Model
from shared.services import operations
from shared.store.deadletters import DeadLetterRepository

VERSION = "0.1.0"
bp = func.Blueprint()


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


@endpoint(bp, "outbox", name="ops_outbox", methods=("GET",), role="Admin", query=("limit",),
          summary="Emails the outbox mailer stored (when ROSTER_MAIL=outbox)")
def outbox(call: Call):
    from shared.mail.outbox import OutboxMailer

    mailer = call.rt.mail
    if not isinstance(mailer, OutboxMailer):
        raise InvalidInput("the outbox is not in use", [FieldError("ROSTER_MAIL", "is not outbox")])
    return {"items": list(mailer.sent(limit=500)), "next": None}


@endpoint(bp, "deadletters", name="ops_deadletters", methods=("GET",), role="Admin", query=("queue",),
          summary="Messages refused as malformed, with the reason, per queue")
def deadletters(call: Call):
    queue = call.query("queue", required=True)
    if queue not in QUEUE_SETTINGS:
        raise InvalidInput("unknown queue", [FieldError("queue", f"one of {', '.join(QUEUE_SETTINGS)}")])
    return {"items": list(DeadLetterRepository(call.rt.store).list(queue)), "next": None}


class ReplayIn(Model):
    queue: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    message_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]


@endpoint(bp, "ops/chain", name="ops_chain", methods=("GET",), role="Admin",
          summary="The chain at a glance: queue depths, dead letters, paused targets")
def chain(call: Call):
    return operations.chain_view(call.rt)


@endpoint(bp, "ops/chain/replay", name="ops_chain_replay", methods=("POST",), role="Admin", body=ReplayIn,
          statuses=(200, 404, 422, 503), summary="Send a dead letter of the bus back to its queue (audited)")
def replay(call: Call):
    return operations.replay(call.rt, call.body.queue, call.body.message_id, call.actor)
