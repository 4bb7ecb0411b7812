"""The Azure Service Bus adapter: one client per instance, one cached sender per queue.

It also reads what the operations view shows (docs/operations.md): queue depths from the
administration client (the identity needs the Manage right, e.g. Azure Service Bus Data
Owner; without it depths are unavailable, not wrong), the `$deadletterqueue` sub-queue of
each queue by peeking, and a replay that receives the dead letter under a peek-lock, sends
a copy to the queue and completes it — a crash in between leaves both, and the handlers
are idempotent.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import AzureError
from azure.identity import DefaultAzureCredential
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusSubQueue
from azure.servicebus.exceptions import MessageSizeExceededError
from azure.servicebus.management import ServiceBusAdministrationClient

from shared.bus.limits import bus_id, checked_body
from shared.bus.port import BusError, DeadLetter, Publication, QueueDepth
from shared.config import MAX_MESSAGE_BYTES
from shared.telemetry import carried, carrier

DEAD_LETTER_BATCH = 50  # dead letters received at once while looking for one to replay
MAX_DEAD_LETTER_SCAN = 20  # batches: a replay looks at most at the 1 000 oldest
WAIT_SECONDS = 5


class ServiceBusBus:
    """Publishes to Service Bus queues with `DefaultAzureCredential` or a connection string.

    The client and its senders are created on first use and reused; a sender is used by
    one thread at a time (the SDK's senders are not thread-safe).
    """

    def __init__(
        self,
        *,
        fully_qualified_namespace: str | None = None,
        connection_string: str | None = None,
        credential: Any = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ):
        if bool(fully_qualified_namespace) == bool(connection_string):
            raise ValueError("give exactly one of fully_qualified_namespace or connection_string")
        self._namespace = fully_qualified_namespace
        self._connection_string = connection_string
        self._credential = credential
        self.max_message_bytes = max_message_bytes
        self._own_credential: Any = None
        self._client: ServiceBusClient | None = None
        self._senders: dict[str, tuple[Any, threading.Lock]] = {}
        self._admin: Any = None
        self._lock = threading.Lock()

    def publish(
        self,
        queue: str,
        body: bytes | str,
        message_id: str,
        session_id: str | None = None,
        scheduled_at: datetime | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        """Send one message (scheduled when `scheduled_at` is given); SDK errors → BusError.
        A body over the limit is MessageTooLarge before anything is sent. `properties` (None:
        the current trace context) become the message's application properties."""
        self.publish_many([Publication(queue, body, message_id, session_id, scheduled_at, properties)])

    def publish_many(self, messages: Sequence[Publication]) -> None:
        """Send the messages, every one checked first: per queue (in the order queues first
        appear) its immediate messages in batches as large as the sender allows, in order,
        then its scheduled ones, one schedule call per instant; SDK errors → BusError (the
        batches sent before stay sent: duplicate detection drops them when sent again).
        One batch may hold several sessions' messages: the queues are not partitioned
        (infra/modules/servicebus.bicep), where a batch would have to keep to one session."""
        by_queue: dict[str, list[tuple[ServiceBusMessage, datetime | None]]] = {}
        for publication in messages:
            by_queue.setdefault(publication.queue, []).append(
                (self._message(publication), publication.scheduled_at))
        for queue, outgoing in by_queue.items():
            try:
                sender, sender_lock = self._sender(queue)
                with sender_lock:
                    _send_batches(sender, [m for m, at in outgoing if at is None])
                    _schedule(sender, [(m, at) for m, at in outgoing if at is not None])
            except AzureError as exc:
                raise BusError(f"publishing {len(outgoing)} message(s) to {queue!r} failed: {exc}") from exc

    def _message(self, publication: Publication) -> ServiceBusMessage:
        """The SDK message for `publication`, once checked against Service Bus's limits."""
        checked_body(publication, self.max_message_bytes)
        properties = publication.properties
        return ServiceBusMessage(
            publication.body, message_id=publication.message_id, session_id=publication.session_id,
            content_type="application/json",
            application_properties=dict(carrier() if properties is None else properties) or None,
        )

    def depth(self, queue: str) -> QueueDepth:
        """The queue's runtime properties from the administration client; BusError when
        they cannot be read (no Manage right, the namespace unreachable)."""
        try:
            props = self._get_admin().get_queue_runtime_properties(queue)
        except AzureError as exc:
            raise BusError(f"reading the depth of {queue!r} failed: {type(exc).__name__}") from exc
        return QueueDepth(
            active=props.active_message_count or 0,
            scheduled=props.scheduled_message_count or 0,
            dead_lettered=props.dead_letter_message_count or 0,
        )

    def dead_letters(self, queue: str, limit: int | None = None, start: int | None = None) -> list[DeadLetter]:
        """Peek at the queue's `$deadletterqueue`, oldest first, from sequence number `start`
        on (nothing is locked). A peek may bring fewer than asked: peek on until `limit`
        (default DEAD_LETTER_BATCH) or the end."""
        wanted, found = limit or DEAD_LETTER_BATCH, []
        try:
            with self._get_client().get_queue_receiver(
                queue_name=queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER
            ) as receiver:
                while len(found) < wanted:
                    batch = receiver.peek_messages(max_message_count=wanted - len(found), sequence_number=start or 0)
                    if not batch:
                        break
                    found.extend(batch)
                    start = batch[-1].sequence_number + 1
        except AzureError as exc:
            raise BusError(f"reading the dead letters of {queue!r} failed: {type(exc).__name__}") from exc
        return [_dead_letter(queue, message) for message in found]

    def replay(self, queue: str, message_id: str) -> str | None:
        """Receive dead letters under a peek-lock until the one with `message_id` comes:
        send a copy to `queue` as `replay:<sequence number>:<id>`, then complete it; the
        others are abandoned (they stay in the dead-letter queue)."""
        try:
            with self._get_client().get_queue_receiver(
                queue_name=queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=WAIT_SECONDS
            ) as receiver:
                return self._replay_from(receiver, queue, message_id)
        except AzureError as exc:
            raise BusError(f"replaying {message_id!r} on {queue!r} failed: {type(exc).__name__}") from exc

    def _replay_from(self, receiver: Any, queue: str, message_id: str) -> str | None:
        """Others received meanwhile stay locked until the end (so the next batch brings
        new ones), then are abandoned: they stay in the dead-letter queue."""
        held: list[Any] = []
        try:
            for _ in range(MAX_DEAD_LETTER_SCAN):
                batch = receiver.receive_messages(max_message_count=DEAD_LETTER_BATCH, max_wait_time=WAIT_SECONDS)
                if not batch:
                    return None
                found = next((m for m in batch if m.message_id == message_id), None)
                held.extend(m for m in batch if m is not found)
                if found is not None:
                    new_id = bus_id(f"replay:{found.sequence_number}:{message_id}")
                    self.publish(queue, _body(found), new_id, session_id=found.session_id,
                                 properties=carried(found.application_properties))
                    receiver.complete_message(found)
                    return new_id
            return None
        finally:
            for other in held:
                receiver.abandon_message(other)

    def close(self) -> None:
        """Close every sender, the clients and the credential this instance created."""
        with self._lock:
            senders = [sender for sender, _ in self._senders.values()]
            client, credential, admin = self._client, self._own_credential, self._admin
            self._senders, self._client, self._own_credential, self._admin = {}, None, None, None
        for handler in [*senders, client, admin, credential]:
            if handler is not None:
                with suppress(Exception):
                    handler.close()

    def _sender(self, queue: str) -> tuple[Any, threading.Lock]:
        with self._lock:
            if queue not in self._senders:
                client = self._get_client()
                self._senders[queue] = (client.get_queue_sender(queue_name=queue), threading.Lock())
            return self._senders[queue]

    def _get_admin(self) -> ServiceBusAdministrationClient:
        with self._lock:
            if self._admin is None:
                if self._connection_string:
                    self._admin = ServiceBusAdministrationClient.from_connection_string(
                        self._connection_string
                    )
                else:
                    self._admin = ServiceBusAdministrationClient(
                        fully_qualified_namespace=self._namespace, credential=self._credential_for_use()
                    )
            return self._admin

    def _credential_for_use(self) -> Any:
        if self._credential is not None:
            return self._credential
        if self._own_credential is None:
            self._own_credential = DefaultAzureCredential()
        return self._own_credential

    def _get_client(self) -> ServiceBusClient:
        if self._client is None:
            if self._connection_string:
                self._client = ServiceBusClient.from_connection_string(self._connection_string)
            else:
                self._client = ServiceBusClient(
                    fully_qualified_namespace=self._namespace, credential=self._credential_for_use()
                )
        return self._client


def _send_batches(sender: Any, messages: list[ServiceBusMessage]) -> None:
    """`messages` in order, in as few batches as the sender's size limit allows; a lone
    message, or one that fills a batch on its own, is sent as itself."""
    if len(messages) <= 1:
        for message in messages:
            sender.send_messages(message)
        return
    batch = sender.create_message_batch()
    for message in messages:
        if _added(batch, message):
            continue
        if len(batch):
            sender.send_messages(batch)
            batch = sender.create_message_batch()
        if not _added(batch, message):
            sender.send_messages(message)
    if len(batch):
        sender.send_messages(batch)


def _added(batch: Any, message: ServiceBusMessage) -> bool:
    try:
        batch.add_message(message)
    except MessageSizeExceededError:
        return False
    return True


def _schedule(sender: Any, messages: list[tuple[ServiceBusMessage, datetime]]) -> None:
    """Scheduled messages, one call per instant (in the order the instants first appear)."""
    by_instant: dict[datetime, list[ServiceBusMessage]] = {}
    for message, at in messages:
        by_instant.setdefault(at.astimezone(UTC), []).append(message)
    for at, group in by_instant.items():
        sender.schedule_messages(group if len(group) > 1 else group[0], at)


def _body(message: Any) -> bytes:
    body = message.body
    return body if isinstance(body, bytes) else b"".join(body)


def _dead_letter(queue: str, message: Any) -> DeadLetter:
    at = message.enqueued_time_utc
    return DeadLetter(
        queue=queue,
        message_id=message.message_id,
        body=_body(message),
        session_id=message.session_id,
        delivery_count=message.delivery_count or 0,
        reason=message.dead_letter_reason or "",
        description=message.dead_letter_error_description or "",
        dead_lettered_at=at.astimezone(UTC) if at is not None else datetime.now(UTC),
        sequence=message.sequence_number or 0,
    )
