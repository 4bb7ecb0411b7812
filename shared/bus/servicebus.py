"""The Azure Service Bus adapter: one client per instance, one cached sender per queue."""

from __future__ import annotations

import threading
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import AzureError
from azure.identity import DefaultAzureCredential
from azure.servicebus import ServiceBusClient, ServiceBusMessage

from shared.bus.limits import check_message
from shared.bus.port import BusError
from shared.config import MAX_MESSAGE_BYTES


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
        self._lock = threading.Lock()

    def publish(
        self,
        queue: str,
        body: bytes | str,
        message_id: str,
        session_id: str | None = None,
        scheduled_at: datetime | None = None,
    ) -> None:
        """Send one message (scheduled when `scheduled_at` is given); SDK errors → BusError.
        A body over the limit is MessageTooLarge before anything is sent."""
        if not queue or not message_id:
            raise ValueError("queue and message_id are required")
        if scheduled_at is not None and scheduled_at.tzinfo is None:
            raise ValueError("scheduled_at must be tz-aware")
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        check_message(data, message_id, session_id, self.max_message_bytes)
        message = ServiceBusMessage(
            body, message_id=message_id, session_id=session_id, content_type="application/json"
        )
        try:
            sender, sender_lock = self._sender(queue)
            with sender_lock:
                if scheduled_at is None:
                    sender.send_messages(message)
                else:
                    sender.schedule_messages(message, scheduled_at.astimezone(UTC))
        except AzureError as exc:
            raise BusError(f"publishing {message_id!r} to {queue!r} failed: {exc}") from exc

    def close(self) -> None:
        """Close every sender, the client and the credential this instance created."""
        with self._lock:
            senders = [sender for sender, _ in self._senders.values()]
            client, credential = self._client, self._own_credential
            self._senders, self._client, self._own_credential = {}, None, None
        for handler in [*senders, client, credential]:
            if handler is not None:
                with suppress(Exception):
                    handler.close()

    def _sender(self, queue: str) -> tuple[Any, threading.Lock]:
        with self._lock:
            if queue not in self._senders:
                client = self._get_client()
                self._senders[queue] = (client.get_queue_sender(queue_name=queue), threading.Lock())
            return self._senders[queue]

    def _get_client(self) -> ServiceBusClient:
        if self._client is None:
            if self._connection_string:
                self._client = ServiceBusClient.from_connection_string(self._connection_string)
            else:
                credential = self._credential
                if credential is None:
                    credential = self._own_credential = DefaultAzureCredential()
                self._client = ServiceBusClient(
                    fully_qualified_namespace=self._namespace, credential=credential
                )
        return self._client
