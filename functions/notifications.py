"""The `notification` queue trigger: each message is one email for the Mailer, or a worklist
digest that is due (its email is made from the counts then)."""

from __future__ import annotations

import azure.functions as func

from functions.queues import consume
from shared.models.messages import DigestRef, Notice
from shared.runtime import runtime
from shared.services.notifications import send
from shared.services.provisioning import send_digest

bp = func.Blueprint()


@bp.function_name("notification_queue")
@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%NotificationQueue%", connection="ServiceBusConnection"
)
def notification_queue(msg: func.ServiceBusMessage) -> None:
    """Send one email. A malformed one is parked with the reason; a mail failure raises, so
    the message comes back (and, after the queue's max delivery count, dead-letters)."""
    consume(msg, "notification", Notice, lambda notice: _deliver(notice.root))


def _deliver(body) -> None:
    rt = runtime()
    if isinstance(body, DigestRef):
        send_digest(rt, body)
    else:
        send(rt, body)
