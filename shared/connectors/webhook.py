"""The webhook connector: each order is POSTed as JSON to the target's URL, signed.

Settings: `url` (required; checked by shared/outbound.py), `secret_env` (the name of the
environment variable holding the HMAC secret, `ROSTER_TARGET_SECRET_*`: secrets never live in
the store, shared/secrets.py), `timeout_seconds` (10), `retries` (3).

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

from shared import outbound, secrets
from shared.clock import Clock, SystemClock
from shared.connectors.base import (
    USER_AGENT,
    HttpSettings,
    Outcome,
    Refused,
    Transient,
    errored,
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


def body_of(order: Order, person: Person, sent_at: str) -> bytes:
    """The JSON document a receiver gets: the order, the least it needs of the person."""
    document: dict[str, Any] = {
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
        "sent_at": sent_at,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    """The `X-Roster-Signature` value for `body`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookConnector:
    """POSTs one order per attempt; built by the registry with its keyword options."""

    def __init__(
        self, *, clock: Clock | None = None, transport: httpx.BaseTransport | None = None
    ):
        self.clock = clock or SystemClock()
        self.transport = transport

    def execute(
        self, target: Target, order: Order, person: Person, external_id: str | None
    ) -> Outcome:
        try:
            settings = HttpSettings.read(target.settings)
            secret = _secret(target.settings)
        except Refused as refused:
            log.warning("webhook order %s not sent: %s", order.id, refused.note)
            return errored(refused.note)
        body = body_of(order, person, self.clock.now().isoformat())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(secret, body),
            ORDER_HEADER: order.id,
            "User-Agent": USER_AGENT,
        }
        with outbound.client(field="settings.url", timeout=settings.timeout, transport=self.transport) as client:

            def post() -> Outcome:
                with http_faults():
                    response = client.post(settings.url, content=body, headers=headers)
                status = response.status_code
                if 200 <= status < 300:
                    return Outcome(OrderState.executed, f"HTTP {status}", external_id)
                if is_transient_status(status):
                    raise Transient(f"HTTP {status}", retry_after(response))
                raise Refused(f"HTTP {status}")

            outcome = once(post)
        if outcome.state in (OrderState.errored, OrderState.pending):
            log.warning("webhook order %s: %s", order.id, outcome.note)
        return outcome


def _secret(settings: dict[str, Any]) -> str:
    name = settings.get("secret_env")
    if not isinstance(name, str) or not name:
        raise Refused("settings.secret_env is not set: webhook orders are always signed")
    try:
        return secrets.secret(name, "settings.secret_env")
    except secrets.SecretRefused as refused:
        raise Refused(f"{refused.detail} (the webhook secret)") from None
