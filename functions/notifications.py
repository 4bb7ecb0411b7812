"""The `notification` queue trigger: each message is one email for the Mailer."""

from __future__ import annotations

import azure.functions as func

from functions.queues import consume
from shared.models.messages import Email
from shared.runtime import runtime
from shared.services.notifications import send

bp = func.Blueprint()


@bp.function_name("notification_queue")
@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%NotificationQueue%", connection="ServiceBusConnection"
)
def notification_queue(msg: func.ServiceBusMessage) -> None:
    """Send one email. A malformed one is parked with the reason; a mail failure raises, so
    the message comes back (and, after the queue's max delivery count, dead-letters)."""
    consume(msg, "notification", Email, lambda email: send(runtime(), email))
