"""The Bus port, its local adapter and `open_bus` to pick the configured adapter."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shared.bus.limits import MAX_ID_CHARS, MessageTooLarge, bus_id
from shared.bus.local import LocalBus
from shared.bus.port import Bus, BusError, DeadLetter, Delivery, LockLost, Receiver
from shared.clock import Clock
from shared.config import SettingsError

if TYPE_CHECKING:
    from shared.config import Settings

__all__ = [
    "Bus",
    "BusError",
    "DeadLetter",
    "Delivery",
    "LocalBus",
    "LockLost",
    "MAX_ID_CHARS",
    "MessageTooLarge",
    "Receiver",
    "bus_id",
    "open_bus",
]


def open_bus(settings: Settings, clock: Clock | None = None) -> Bus:
    """The adapter `settings.bus` names: "local" (SQLite at bus_path) or "servicebus"."""
    if settings.bus == "local":
        Path(settings.bus_path).parent.mkdir(parents=True, exist_ok=True)
        return LocalBus(settings.bus_path, clock=clock, max_message_bytes=settings.max_message_bytes)
    if settings.bus == "servicebus":
        from shared.bus.servicebus import ServiceBusBus

        if settings.servicebus_namespace:
            return ServiceBusBus(
                fully_qualified_namespace=settings.servicebus_namespace,
                max_message_bytes=settings.max_message_bytes,
            )
        if settings.servicebus_connection:
            return ServiceBusBus(
                connection_string=settings.servicebus_connection,
                max_message_bytes=settings.max_message_bytes,
            )
        raise SettingsError(
            "ROSTER_BUS=servicebus needs ServiceBusConnection__fullyQualifiedNamespace "
            "(managed identity) or ServiceBusConnection (a connection string)"
        )
    raise SettingsError(f"ROSTER_BUS must be local or servicebus, not {settings.bus!r}")
