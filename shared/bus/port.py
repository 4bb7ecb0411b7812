"""The Bus port: publishing state-based events to queues (docs/architecture.md §4).

In Azure the Functions host receives; on one machine `devhost` receives from the local
adapter with `Receiver` and hands each message to the same trigger functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class BusError(Exception):
    """A transient failure to publish: the caller raises so its own message comes back."""


@dataclass(frozen=True)
class Publication:
    """One message of `Bus.publish_many`: what `Bus.publish` takes."""

    queue: str
    body: bytes | str
    message_id: str
    session_id: str | None = None
    scheduled_at: datetime | None = None
    properties: Mapping[str, str] | None = None


class Bus(Protocol):
    def publish(
        self,
        queue: str,
        body: bytes | str,
        message_id: str,
        session_id: str | None = None,
        scheduled_at: datetime | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        """Send one message. A `message_id` seen on the queue within the duplicate
        detection window is dropped silently. `scheduled_at` (tz-aware) delays delivery.
        `properties` are its application properties (the trace context, shared/telemetry.py);
        None: the current span's."""

    def publish_many(self, messages: Sequence[Publication]) -> None:
        """Send several messages in their order, each as `publish` would (duplicates dropped,
        limits checked for all before any is sent). The local bus sends them in one
        transaction, all or none; Service Bus in a batch per queue (and a schedule call per
        queue and instant): a BusError part-way leaves the earlier batches sent — sent again,
        duplicate detection drops them."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class Delivery:
    """A message received under a peek-lock."""

    queue: str
    message_id: str
    body: bytes
    session_id: str | None
    delivery_count: int  # 1 on the first delivery
    enqueued_at: datetime
    scheduled_at: datetime | None
    lock_token: str
    locked_until: datetime
    properties: Mapping[str, str] = field(default_factory=dict)  # application properties


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    message_id: str
    body: bytes
    session_id: str | None
    delivery_count: int
    reason: str
    description: str
    dead_lettered_at: datetime
    sequence: int = 0  # the position in the dead-letter queue: where a page of them starts


@dataclass(frozen=True)
class QueueDepth:
    """Messages of one queue: waiting or locked, scheduled for later (None where the
    adapter cannot tell them apart), and in its dead-letter queue."""

    active: int
    scheduled: int | None
    dead_lettered: int


class Inspector(Protocol):
    """What the operations view reads from a bus and the replay it asks of it (both
    adapters; docs/operations.md)."""

    def depth(self, queue: str) -> QueueDepth: ...

    def dead_letters(self, queue: str, limit: int | None = None, start: int | None = None) -> list[DeadLetter]:
        """The queue's dead-letter queue, oldest first (MaxDeliveryCountExceeded and
        any other reason the bus gave), from `sequence` `start` on (inclusive) when given."""

    def replay(self, queue: str, message_id: str) -> str | None:
        """Send the oldest dead letter with `message_id` back to `queue` as a new message
        and remove it from the dead-letter queue; the new message's id, or None when no
        such dead letter is there."""


class LockLost(BusError):
    """complete/abandon/dead_letter with a lock that expired or was already settled."""


class Receiver(Protocol):
    """What a host needs to pump a queue (implemented by the local adapter)."""

    def receive(self, queue: str) -> Delivery | None:
        """The next due message, locked for the lock duration; None if none is due.
        Messages of one session come in order and never two at once; an expired lock
        makes the message receivable again; a message received more than
        `max_delivery_count` times is dead-lettered with reason MaxDeliveryCountExceeded."""

    def receive_batch(self, queue: str, max_messages: int) -> list[Delivery]:
        """Up to `max_messages` due messages for a batch trigger (`cardinality=many`): the
        next one and, when it has a session, the following messages of that session only."""

    def complete(self, delivery: Delivery) -> None: ...

    def complete_batch(self, deliveries: list[Delivery]) -> None:
        """Complete a batch's messages together (LockLost when a lock was lost)."""

    def abandon(self, delivery: Delivery) -> None:
        """Release the lock now; the message is redelivered (its count already went up)."""

    def dead_letter(self, delivery: Delivery, reason: str, description: str = "") -> None: ...

    def dead_letters(self, queue: str, limit: int | None = None, start: int | None = None) -> list[DeadLetter]: ...

    def active_count(self, queue: str) -> int:
        """Messages waiting or locked (scheduled ones included)."""
