"""The queue pump: the local bus → Service Bus-triggered function, with peek-lock settlement.

Success completes the message, an exception abandons it (it comes back at once with its
delivery count up); the bus dead-letters it on the receive after `max_delivery_count`. A
batch trigger (`cardinality=many`) gets up to host.json's `maxMessageBatchSize` messages as a
list — one session's only, as the Functions host gives them — completed or abandoned together.
Logs name the queue, function, exception type and stack, never the body or the message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from azure.functions.servicebus import ServiceBusMessage

from devhost.activity import Activity, failure
from shared.bus.port import BusError, Delivery, Receiver

if TYPE_CHECKING:
    from devhost.index import HostFunction

log = logging.getLogger("devhost.pump")


def to_message(delivery: Delivery) -> ServiceBusMessage:
    """The `func.ServiceBusMessage` the Functions host would pass for `delivery`."""
    return ServiceBusMessage(
        body=delivery.body,
        message_id=delivery.message_id,
        session_id=delivery.session_id,
        delivery_count=delivery.delivery_count,
        enqueued_time_utc=delivery.enqueued_at,
        scheduled_enqueue_time_utc=delivery.scheduled_at,
        lock_token=delivery.lock_token,
        locked_until=delivery.locked_until,
        content_type="application/json",
        application_properties=dict(delivery.properties),  # the trace context (shared/telemetry.py)
        user_properties=dict(delivery.properties),
    )


class QueuePump:
    """Receives from one queue and invokes one function, in a thread, until `stop` is set."""

    def __init__(
        self,
        function: HostFunction,
        open_receiver: Callable[[], Receiver],
        activity: Activity,
        stop: threading.Event,
        *,
        poll_interval: float = 0.1,
        worker: str | None = None,
        batch_size: int = 1000,
    ):
        assert function.queue is not None
        self.function = function
        self.queue = function.queue
        self.open_receiver = open_receiver
        self.activity = activity
        self.stop = stop
        self.poll_interval = poll_interval
        self.worker = worker or f"{function.name}#0"
        self.batch_size = batch_size
        self.completed = 0
        self.abandoned = 0

    def run(self) -> None:
        """The thread's body; the worker must have been registered with the activity."""
        receiver = None
        while receiver is None and not self.stop.is_set():
            try:
                receiver = self.open_receiver()
            except Exception as exc:  # a busy file at start-up: try again shortly
                log.warning("cannot open the local bus for queue %s yet: %s", self.queue, type(exc).__name__)
                self.stop.wait(self.poll_interval)
        if receiver is None:
            self.activity.unregister(self.worker)
            return
        try:
            while not self.stop.is_set():
                if not self.pump_once(receiver):
                    self.stop.wait(self.poll_interval)
        finally:
            self.activity.unregister(self.worker)
            receiver.close()  # type: ignore[attr-defined]

    def pump_once(self, receiver: Receiver) -> bool:
        """Receive and handle one message (a batch trigger: one batch); False when none
        was due."""
        epoch = self.activity.epoch
        try:
            if self.function.batch:
                deliveries = receiver.receive_batch(self.queue, self.batch_size)
            else:
                deliveries = [d] if (d := receiver.receive(self.queue)) is not None else []
        except Exception as exc:  # BusError (a busy SQLite file) or worse: keep pumping
            log.warning("receive from %s failed: %s", self.queue, type(exc).__name__)
            return False
        if not deliveries:
            self.activity.idle(self.worker, epoch)
            return False
        self.handle(receiver, deliveries)
        return True

    def handle(self, receiver: Receiver, deliveries: list[Delivery]) -> None:
        name = self.function.name
        with self.activity.invocation():
            started = time.perf_counter()
            messages = [to_message(d) for d in deliveries]
            try:
                self.function.call(messages if self.function.batch else messages[0])
            except Exception as exc:
                log.warning(
                    "Executed 'Functions.%s' (Failed, queue=%s, %d message(s), delivery %d; abandoned): %s",
                    name,
                    self.queue,
                    len(deliveries),
                    deliveries[0].delivery_count,
                    failure(exc),
                )
                log.debug("Functions.%s failed", name, exc_info=True)
                for delivery in deliveries:
                    self._settle(receiver.abandon, delivery, "abandon")
                self.abandoned += len(deliveries)
                return
            log.info(
                "Executed 'Functions.%s' (Succeeded, queue=%s, %d message(s), Duration=%dms)",
                name,
                self.queue,
                len(deliveries),
                (time.perf_counter() - started) * 1000,
            )
            if self.function.batch:
                self._settle(receiver.complete_batch, deliveries, "complete")
            else:
                self._settle(receiver.complete, deliveries[0], "complete")
            self.completed += len(deliveries)

    def _settle(self, action: Callable[[Any], None], delivery: Any, what: str) -> None:
        try:
            action(delivery)
        except BusError as exc:  # LockLost included: the message comes back by itself
            log.warning("could not %s a message of %s: %s", what, self.queue, type(exc).__name__)
