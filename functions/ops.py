"""Operations: health, the OpenAPI description, the outbox, dead-lettered messages."""

from __future__ import annotations

import azure.functions as func

from functions.http import Call, endpoint
from functions.openapi import describe
from shared.models.role import Role
from shared.services import deadletters, notifications

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


@endpoint(bp, "outbox", name="ops_outbox", methods=("GET",), role=Role.admin, query=("limit",),
          summary="Emails the outbox mailer stored (when ROSTER_MAIL=outbox)")
def outbox(call: Call):
    return {"items": notifications.stored_emails(call.rt), "next": None}


@endpoint(bp, "deadletters", name="ops_deadletters", methods=("GET",), role=Role.admin, query=("queue",),
          summary="Messages refused as malformed, with the reason, per queue")
def list_deadletters(call: Call):
    return {"items": deadletters.parked(call.rt, call.query("queue", required=True)), "next": None}
