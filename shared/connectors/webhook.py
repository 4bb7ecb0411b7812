"""The webhook connector: each order is POSTed as JSON to the target's URL, signed — one
order per POST, or many in one (`batch_size`; the batch contract is in docs/targets.md).

Settings: `url` (required; checked by shared/outbound.py), `secret_env` (the name of the
environment variable holding the HMAC secret, `ROSTER_TARGET_SECRET_*`: secrets never live in
the store, shared/secrets.py), `timeout_seconds` (10), `retries` (3), `concurrency` (4: calls
at once), `batch_size` (1: orders per POST, at most 500). Calls go through the target's
pooled client (shared/connectors/pool.py).

The receiver checks `X-Roster-Signature: sha256=<hex>`, the HMAC-SHA256 of the exact body
bytes under the shared secret, and may use `sent_at` (signed, in the body) to refuse old
replays and `X-Roster-Order` (the order id) to ignore a delivery it has already handled.
A 2xx answer makes the order Executed; 408, 429, 5xx, a timeout or a connection failure
are transient (the order is tried again later, scheduled); any other answer is an error at
once. One call per attempt, bounded by `timeout_seconds`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import httpx

from shared import secrets
from shared.clock import Clock, SystemClock
from shared.connectors import pool
from shared.connectors.base import (
    USER_AGENT,
    HttpSettings,
    Outcome,
    Refused,
    Transient,
    batch_size_of,
    errored,
    fault_outcome,
    http_faults,
    is_transient_status,
    once,
    retry_after,
)
from shared.models.person import Person
from shared.models.provisioning import Order, OrderState, Target

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Roster-Signature"
ORDER_HEADER = "X-Roster-Order"
BATCH_HEADER = "X-Roster-Batch"


def _document(order: Order, person: Person) -> dict[str, Any]:
    """One order and the least the receiver needs of the person."""
    return {
        "order": {
            "id": order.id,
            "person_id": order.person_id,
            "target_id": order.target_id,
            "entitlement": order.entitlement,
            "action": order.action.value,
            "reason": order.reason,
        },
        "person": {
            "id": person.id,
            "display_name": person.names.display,
            "email": person.primary_email,
        },
    }


def body_of(order: Order, person: Person, sent_at: str) -> bytes:
    """The JSON document a receiver gets for one order: the order, the person, `sent_at`."""
    document = {**_document(order, person), "sent_at": sent_at}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    """The `X-Roster-Signature` value for `body`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookConnector:
    """POSTs one order per attempt, or — with `batch_size` above 1 — many orders in one
    signed POST (`execute_many`); every call goes through the target's pooled client."""

    def __init__(
        self, *, clock: Clock | None = None, transport: httpx.BaseTransport | None = None
    ):
        self.clock = clock or SystemClock()
        self.transport = transport

    def batch_size(self, target: Target) -> int:
        """How many orders one call may carry (`batch_size`, default 1)."""
        return batch_size_of(target)

    def execute(
        self, target: Target, order: Order, person: Person, external_id: str | None
    ) -> Outcome:
        try:
            settings, secret = _read(target)
        except Refused as refused:
            log.warning("webhook order %s not sent: %s", order.id, refused.note)
            return errored(refused.note)
        body = body_of(order, person, self.clock.now().isoformat())
        client = self._client(target, settings)

        def post() -> Outcome:
            response = _post(client, settings, body, _headers(secret, body, {ORDER_HEADER: order.id}))
            return Outcome(OrderState.executed, f"HTTP {response.status_code}", external_id)

        outcome = once(post)
        if outcome.state in (OrderState.errored, OrderState.pending):
            log.warning("webhook order %s: %s", order.id, outcome.note)
        return outcome

    def execute_many(self, target: Target, items: list[Item]) -> list[Outcome]:
        """One signed POST for all `items` (the batch contract, docs/targets.md); one outcome
        per item, in order. A fault of the whole call is every order's outcome."""
        try:
            settings, secret = _read(target)
        except Refused as refused:
            log.warning("webhook batch of %d not sent: %s", len(items), refused.note)
            return [errored(refused.note)] * len(items)
        batch = batch_id([order for order, _, _ in items])
        body = batch_body(items, batch, self.clock.now().isoformat())
        client = self._client(target, settings)
        try:
            response = _post(client, settings, body, _headers(secret, body, {BATCH_HEADER: batch}))
        except (Transient, Refused) as fault:
            outcome = fault_outcome(fault)
            log.warning("webhook batch %s of %d orders: %s", batch, len(items), outcome.note)
            return [outcome] * len(items)
        return per_order(response, items)

    def _client(self, target: Target, settings: HttpSettings) -> httpx.Client:
        return pool.client_for(target.id, url=settings.url, timeout=settings.timeout,
                               concurrency=settings.concurrency, transport=self.transport)


Item = tuple[Order, Person, "str | None"]  # an order, its person, the account id Roster knows


def _read(target: Target) -> tuple[HttpSettings, str]:
    return HttpSettings.read(target.settings), _secret(target.settings)


def _headers(secret: str, body: bytes, extra: dict[str, str]) -> dict[str, str]:
    return {"Content-Type": "application/json", SIGNATURE_HEADER: signature(secret, body),
            "User-Agent": USER_AGENT, **extra}


def _post(client: httpx.Client, settings: HttpSettings, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """One POST; a 2xx answer is returned, any other raises Transient or Refused."""
    with http_faults():
        response = client.post(settings.url, content=body, headers=headers)
    status = response.status_code
    if 200 <= status < 300:
        return response
    if is_transient_status(status):
        raise Transient(f"HTTP {status}", retry_after(response))
    raise Refused(f"HTTP {status}")


def batch_id(orders: list[Order]) -> str:
    """The `X-Roster-Batch` value: the same orders at the same attempts give the same id, so
    a receiver may recognise a batch delivered again (each order's own id is the key that
    counts: a redelivered order may come in another batch)."""
    text = "|".join(sorted(f"{o.id}:{o.attempts}" for o in orders))
    return "b-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def batch_body(items: list[Item], batch: str, sent_at: str) -> bytes:
    """`{"batch_id", "sent_at", "orders": [{"order": …, "person": …}, …]}`: each entry is
    what a single delivery's body holds, without its own `sent_at`."""
    entries = [_document(order, person) for order, person, _ in items]
    document = {"batch_id": batch, "sent_at": sent_at, "orders": entries}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def per_order(response: httpx.Response, items: list[Item]) -> list[Outcome]:
    """Each order's outcome from a 2xx batch answer: its entry in `results` (a status per
    order, read as a single call's status would be), Executed when the answer has no
    `results` at all, transient when the answer names the others but not this one."""
    status = response.status_code
    results = _results(response)
    if results is None:
        return [Outcome(OrderState.executed, f"HTTP {status} (batch)", external_id) for _, _, external_id in items]
    outcomes = []
    for order, _, external_id in items:
        entry = results.get(order.id)
        if entry is None:
            outcomes.append(Outcome(OrderState.pending, f"HTTP {status} (batch): no result for the order"))
            continue
        outcomes.append(_entry_outcome(status, entry, external_id))
    return outcomes


def _results(response: httpx.Response) -> dict[str, dict] | None:
    """Order id → its result entry, or None when the answer carries no `results` list."""
    if not response.content.strip():
        return None
    try:
        document = response.json()
    except ValueError:
        return None
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list):
        return None
    return {str(e["id"]): e for e in results if isinstance(e, dict) and isinstance(e.get("id"), str)}


def _entry_outcome(status: int, entry: dict, external_id: str | None) -> Outcome:
    code = entry.get("status")
    if not isinstance(code, int) or isinstance(code, bool) or not 100 <= code <= 599:
        return errored(f"HTTP {status} (batch): the order's result has no status")
    note = f"HTTP {status} (batch): {code}"
    if 200 <= code < 300:
        return Outcome(OrderState.executed, note, external_id)
    if is_transient_status(code):
        wait = entry.get("retry_after")
        valid = isinstance(wait, int | float) and not isinstance(wait, bool) and wait >= 0
        return Outcome(OrderState.pending, note, retry_after=float(wait) if valid else None)
    return errored(note)


def _secret(settings: dict[str, Any]) -> str:
    name = settings.get("secret_env")
    if not isinstance(name, str) or not name:
        raise Refused("settings.secret_env is not set: webhook orders are always signed")
    try:
        return secrets.secret(name, "settings.secret_env")
    except secrets.SecretRefused as refused:
        raise Refused(f"{refused.detail} (the webhook secret)") from None
