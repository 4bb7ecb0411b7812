"""The ticket mirror's triggers: the `ticket-mirror` queue (Roster → Azure DevOps) and the
service-hook receiver `POST /api/devops/hooks` (Azure DevOps → Roster)."""

from __future__ import annotations

import azure.functions as func

from functions.http import Call, endpoint
from functions.queues import consume
from shared.runtime import runtime
from shared.services import ticket_hooks, tickets

bp = func.Blueprint()


@bp.function_name("ticket_mirror_queue")
@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%TicketMirrorQueue%", connection="ServiceBusConnection", is_sessions_enabled=True
)
def ticket_mirror_queue(msg: func.ServiceBusMessage) -> None:
    """One desk event carried to the tracker; retried later when the tracker fails."""
    consume(msg, "ticket-mirror", tickets.TicketEvent, lambda event: tickets.mirror(runtime(), event))


@endpoint(
    bp, "devops/hooks", name="devops_hooks", methods=("POST",), role=None, public=True, body=ticket_hooks.HookEvent,
    statuses=(200, 401, 404, 422),
    summary="Azure DevOps service hooks (work item updated, commented): authenticated with the shared secret",
)
def devops_hooks(call: Call):
    return ticket_hooks.receive(call.rt, call.body, call.req.headers.get("authorization"))
