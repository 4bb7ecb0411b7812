"""The console's Operations page (Admin; docs/console.md): the chain at a glance with the
day-one verdict, dead letters a page at a time with Replay, and a sweep run now. Each
route reads its query or form, calls one service, and draws the page or redirects back
with a message. An unknown dead letter is a 404 page, a forged `next` a 400 page.
"""

from __future__ import annotations

from urllib.parse import urlencode

import azure.functions as func

from functions.console_web import BASE, Visit, page
from shared.console.operations import BUS, operations_page
from shared.models.role import Role
from shared.services import operations

bp = func.Blueprint()
ADMIN = Role.admin
HERE = f"{BASE}/operations"


@page(bp, "operations", name="console_operations", methods=("GET",), role=ADMIN, query=("queue", "kind", "next"),
      statuses=(200, 400, 422), summary="Operations: queues, dead letters, orders by state, circuits, "
                                        "re-evaluations, sweeps and whether day one has finished")
def operations_view(visit: Visit) -> func.HttpResponse:
    data = operations_page(visit.rt, visit.query("queue", max_length=100), visit.query("kind", max_length=20),
                           visit.query("next", max_length=2000))
    return visit.html("operations.html", section="operations", here=HERE, **data)


@page(bp, "operations/replay", name="console_operations_replay", methods=("POST",), role=ADMIN,
      statuses=(303, 404, 422, 503), summary="Send a dead letter of the bus back to its queue (audited)")
def replay(visit: Visit) -> func.HttpResponse:
    queue, message_id = visit.field("queue", max_length=100), visit.field("message_id", max_length=128)
    done = operations.replay(visit.rt, queue, message_id, visit.actor)
    back = visit.back(f"{HERE}?{urlencode({'queue': queue, 'kind': BUS})}")
    return visit.redirect(back, f"Replayed {message_id} on {done['queue']}: the message is back in its queue.")


@page(bp, "operations/sweep", name="console_operations_sweep", methods=("POST",), role=ADMIN, statuses=(303,),
      summary="Run one batch of the self-healing sweep now (audited)")
def run_sweep(visit: Visit) -> func.HttpResponse:
    figures = operations.run_sweep(visit.rt, visit.rt.settings.sweep_batch, visit.actor)
    repairs = ", ".join(f"{kind} {n}" for kind, n in figures["repairs"].items()) or "none"
    return visit.redirect(HERE, f"Sweep ran: {figures['persons_checked']} persons checked; repairs: {repairs}.")
