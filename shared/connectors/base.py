"""What an automatic connector is: one call to its target per order, and an outcome for it.

A connector never raises for a fault of its target and never waits: it makes one attempt
and reports it. A fault that may pass (a 5xx, a 429, a timeout, a refused connection) is a
*transient* outcome carrying the target's Retry-After, if any; the provisioning service
turns it into a scheduled redelivery (docs/operations.md, "Retries"). Any other fault is
Errored at once. Notes name the fault and carry no personal data. The connectors Roster
knows are listed in `shared.connectors.registry`; this module knows none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx

from shared import outbound
from shared.models.person import Person
from shared.models.provisioning import Order, OrderState, Target

DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 60.0  # seconds: one call never holds a message (and its session) longer
DEFAULT_RETRIES = 3
MAX_RETRIES = 10
MAX_BATCH_SIZE = 500  # orders in one call of a connector's batch mode (`batch_size`)
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 16  # keep it below host.json maxConcurrentSessions: other targets need sessions too
LISTING_BACKOFF = 0.5  # seconds between attempts of a listing (not an order), doubling
USER_AGENT = "Roster"

Sleep = Callable[[float], None]
T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: Executed, Verified or Errored — or Pending, a transient
    fault to try again later (`retry_after` is the target's own wish, in seconds)."""

    state: OrderState
    note: str  # short, no personal data: "HTTP 204", "SCIM user 2819c… deactivated, read back"
    external_id: str | None = None  # the target's id of the account, kept for later orders
    retry_after: float | None = None

    @property
    def transient(self) -> bool:
        return self.state == OrderState.pending


class Connector(Protocol):
    """Carries out orders in one kind of target; built by the registry per order."""

    def execute(
        self, target: Target, order: Order, person: Person, external_id: str | None
    ) -> Outcome:
        """Make one attempt at one order; `external_id` is what an earlier order of this
        person and target returned, or None."""


class ConnectorError(Exception):
    """A target that could not be read (from a listing); `note` is safe to show and log."""

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


def once(attempt: Callable[[], Outcome]) -> Outcome:
    """One attempt: a Transient fault becomes a transient outcome, a Refused one Errored."""
    try:
        return attempt()
    except (Transient, Refused) as fault:
        return fault_outcome(fault)


def fault_outcome(fault: Transient | Refused) -> Outcome:
    """A Transient fault as a transient outcome (with its Retry-After), a Refused one Errored."""
    if isinstance(fault, Transient):
        return Outcome(OrderState.pending, fault.note, retry_after=fault.retry_after)
    return errored(fault.note)


def retrying(attempt: Callable[[], T], *, retries: int, sleep: Sleep) -> T:
    """For listings, never for orders: call `attempt` at most `retries` times while it
    raises Transient, sleeping 0.5 s, 1 s, … in between; then raise Refused."""
    last: Transient | None = None
    for number in range(1, retries + 1):
        try:
            return attempt()
        except Transient as fault:
            last = fault
            if number < retries:
                sleep(LISTING_BACKOFF * 2 ** (number - 1))
    assert last is not None
    raise Refused(f"{last.note} after {retries} attempts")


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


@contextmanager
def http_faults() -> Iterator[None]:
    """httpx's exceptions as Transient (a transport fault) or Refused (anything else)."""
    try:
        yield
    except httpx.TransportError as error:
        raise transport_fault(error) from error
    except httpx.HTTPError as error:  # e.g. an answer that does not decode
        raise Refused(f"HTTP exchange failed ({type(error).__name__})") from error


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def _whole(value: Any, low: int, high: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and low <= value <= high


@dataclass(frozen=True)
class HttpSettings:
    """The settings the HTTP connectors read from `Target.settings`.

    `timeout_seconds` (10) bounds one call, at most MAX_TIMEOUT; `retries` (3) is how many
    attempts an order gets before it is Errored, at most MAX_RETRIES; `concurrency` (4) is
    how many calls the target gets at once, at most MAX_CONCURRENCY (`concurrency_of`)."""

    url: str
    timeout: float
    retries: int
    concurrency: int = DEFAULT_CONCURRENCY

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
        if not _number(timeout) or not 0 < timeout <= MAX_TIMEOUT:
            raise Refused(
                f"settings.timeout_seconds must be a number of seconds from 0 to {MAX_TIMEOUT:g}"
            )
        retries = settings.get("retries", DEFAULT_RETRIES)
        if not _whole(retries, 1, MAX_RETRIES):
            raise Refused(f"settings.retries must be a whole number from 1 to {MAX_RETRIES}")
        concurrency = settings.get("concurrency", DEFAULT_CONCURRENCY)
        if not _whole(concurrency, 1, MAX_CONCURRENCY):
            raise Refused(f"settings.concurrency must be a whole number from 1 to {MAX_CONCURRENCY}")
        return cls(url=url, timeout=float(timeout), retries=retries, concurrency=concurrency)


def attempts_allowed(target: Target) -> int:
    """How many attempts an order of `target` gets: its `retries` setting when valid."""
    retries = target.settings.get("retries", DEFAULT_RETRIES)
    valid = isinstance(retries, int) and not isinstance(retries, bool)
    return min(max(retries, 1), MAX_RETRIES) if valid else DEFAULT_RETRIES


def concurrency_of(target: Target) -> int:
    """How many calls `target` gets at once: its `concurrency` setting when valid, else
    DEFAULT_CONCURRENCY. It is also the number of lanes (sessions) its orders are queued in
    (shared/services/provisioning.py, order_message): the bus itself keeps the bound."""
    value = target.settings.get("concurrency", DEFAULT_CONCURRENCY)
    return value if _whole(value, 1, MAX_CONCURRENCY) else DEFAULT_CONCURRENCY


def batch_size_of(target: Target) -> int:
    """How many orders one call may carry: the target's `batch_size` when valid, else 1."""
    value = target.settings.get("batch_size", 1)
    return value if _whole(value, 1, MAX_BATCH_SIZE) else 1


def delivery_setting_problems(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, problem) for a `concurrency` or `batch_size` setting that is not valid — the
    target is refused when saved (422 naming the field) rather than quietly defaulted."""
    limits = {"concurrency": MAX_CONCURRENCY, "batch_size": MAX_BATCH_SIZE}
    return [(f"settings.{name}", f"a whole number from 1 to {high}") for name, high in limits.items()
            if name in settings and not _whole(settings[name], 1, high)]
