"""What an automatic connector is: one call per order, and an outcome for it.

A connector never raises for a fault of its target. It retries what may pass (a 5xx, a 429,
a timeout, a refused connection) with exponential backoff, then reports the order Errored
with a short note that names the fault and no personal data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx

from shared import outbound
from shared.clock import Clock
from shared.models.person import Person
from shared.models.provisioning import Connector as ConnectorKind
from shared.models.provisioning import Order, OrderState, Target

BACKOFF_BASE = 0.5  # seconds before the second attempt; doubles for each one after
MAX_RETRY_AFTER = 30.0  # seconds: the most a target's Retry-After can make us wait
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
MAX_RETRIES = 10
USER_AGENT = "Roster"

Sleep = Callable[[float], None]
T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    state: OrderState  # OrderState.executed | OrderState.verified | OrderState.errored
    note: str  # short, no personal data: "HTTP 204", "SCIM user 2819c… deactivated, read back"
    external_id: str | None = None  # the target's id of the account, kept for later orders


class Connector(Protocol):
    def execute(
        self, target: Target, order: Order, person: Person, external_id: str | None
    ) -> Outcome:
        """Carry out one order; `external_id` is what an earlier order of this person and
        target returned, or None."""

    def accounts(self, target: Target) -> list[dict]:
        """The target's accounts for reconciliation:
        `[{"person_id", "email", "entitlements", "active", "external_id"}]`."""


class ConnectorError(Exception):
    """A target that could not be read (from `accounts`); `note` is safe to show and log."""

    def __init__(self, note: str):
        super().__init__(note)
        self.note = note


class Transient(Exception):
    """A fault worth another attempt; `retry_after` is the target's own wish, in seconds."""

    def __init__(self, note: str, retry_after: float | None = None):
        super().__init__(note)
        self.note = note
        self.retry_after = retry_after


class Refused(Exception):
    """A fault another attempt will not cure: the order is Errored at once."""

    def __init__(self, note: str):
        super().__init__(note)
        self.note = note


def errored(note: str) -> Outcome:
    return Outcome(OrderState.errored, note)


def backoff(attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, …): 0.5, 1, 2, …,
    or longer when the target asked for it (at most MAX_RETRY_AFTER)."""
    delay = BACKOFF_BASE * 2 ** (attempt - 1)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def retrying(attempt: Callable[[], T], *, retries: int, sleep: Sleep) -> T:
    """Call `attempt` until it returns, at most `retries` times while it raises Transient,
    sleeping with backoff in between; then raise Refused naming the last fault."""
    last: Transient | None = None
    for number in range(1, retries + 1):
        try:
            return attempt()
        except Transient as fault:
            last = fault
            if number < retries:
                sleep(backoff(number, fault.retry_after))
    assert last is not None
    raise Refused(f"{last.note} after {retries} attempts")


def with_retries(attempt: Callable[[], Outcome], *, retries: int, sleep: Sleep) -> Outcome:
    """`retrying`, with a fault that stays (Refused) as an Errored outcome."""
    try:
        return retrying(attempt, retries=retries, sleep=sleep)
    except Refused as refused:
        return errored(refused.note)


def retry_after(response: httpx.Response) -> float | None:
    """A Retry-After given in seconds (the HTTP-date form is ignored)."""
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


def is_transient_status(status: int) -> bool:
    """408, 429 and the 5xx that may pass (501 Not Implemented and 505 will not)."""
    return status in (408, 429) or (500 <= status < 600 and status not in (501, 505))


def transport_fault(error: httpx.TransportError) -> Transient:
    if isinstance(error, httpx.TimeoutException):
        return Transient("timed out")
    return Transient(f"connection failed ({type(error).__name__})")


@dataclass(frozen=True)
class HttpSettings:
    """The settings both automatic connectors read from `Target.settings`."""

    url: str
    timeout: float
    retries: int

    @classmethod
    def read(cls, settings: Mapping[str, Any]) -> HttpSettings:
        """Raises Refused naming the setting that is wrong."""
        url = settings.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise Refused("settings.url must be an http(s) URL")
        try:
            outbound.check_url(url, "settings.url")
        except outbound.OutboundRefused as refused:
            raise Refused(refused.detail) from None
        timeout = settings.get("timeout_seconds", DEFAULT_TIMEOUT)
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout <= 300
        ):
            raise Refused("settings.timeout_seconds must be a number of seconds from 0 to 300")
        retries = settings.get("retries", DEFAULT_RETRIES)
        if (
            isinstance(retries, bool)
            or not isinstance(retries, int)
            or not 1 <= retries <= MAX_RETRIES
        ):
            raise Refused(f"settings.retries must be a whole number from 1 to {MAX_RETRIES}")
        return cls(url=url, timeout=float(timeout), retries=retries)


def connector_for(
    target: Target,
    *,
    clock: Clock | None = None,
    sleep: Sleep = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> Connector:
    """The connector that carries out orders for `target` (webhook or scim).

    `sleep` waits between attempts (tests pass a recorder); `transport` replaces the
    network (an httpx mock or WSGI transport). A manual target has no connector: ValueError.
    """
    if target.connector == ConnectorKind.webhook:
        from shared.connectors.webhook import WebhookConnector

        return WebhookConnector(clock=clock, sleep=sleep, transport=transport)
    if target.connector == ConnectorKind.scim:
        from shared.connectors.scim import ScimConnector  # scim2 libraries load only when used

        return ScimConnector(sleep=sleep, transport=transport)
    raise ValueError(
        f"target {target.id!r} is {target.connector.value}: it has no automatic connector"
    )
