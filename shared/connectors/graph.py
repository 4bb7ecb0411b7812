"""Microsoft Graph v1.0 over httpx: one authenticated session per order (over the target's
pooled client), single calls and
`$batch`es of up to 20, and Graph's answers sorted into what an order can do with them.

`GraphSession.send` takes requests and returns the replies in the same order; requests go
one by one when there is one, else in `$batch`es of BATCH_LIMIT. `check` turns a reply into
a fault: 429, 503 and the other transient statuses raise `Transient` (carrying Retry-After);
403 raises `Refused` naming the application permission the call needs; anything else not
2xx raises `Refused` with Graph's error code. Replies never reach a log: they hold names.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from azure.core.exceptions import AzureError

from shared.connectors.base import (
    USER_AGENT,
    Refused,
    Transient,
    is_transient_status,
    transport_fault,
)
from shared.connectors.pool import client_for
from shared.models.target_settings import EntraSettings

BATCH_LIMIT = 20  # Graph's own limit on requests in one $batch
VERSION = "v1.0"
USERS, MEMBERS, INVITE = "User.ReadWrite.All", "GroupMember.ReadWrite.All", "User.Invite.All"
_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[^.]*\d[^.]*")
_credentials: dict[tuple, Any] = {}
_credentials_lock = threading.Lock()


@dataclass
class Request:
    method: str
    url: str  # relative to /v1.0, e.g. "/users/{id}"
    body: dict[str, Any] | None = None
    permission: str = USERS  # the application permission Graph wants for it (named on a 403)


@dataclass
class Reply:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> str:
        error = self.body.get("error")
        return str(error.get("code", "")) if isinstance(error, dict) else ""

    @property
    def message(self) -> str:
        error = self.body.get("error")
        return str(error.get("message", "")) if isinstance(error, dict) else ""

    def retry_after(self) -> float | None:
        value = {k.lower(): v for k, v in self.headers.items()}.get("retry-after", "")
        return float(value) if str(value).strip().isdigit() else None


def check(reply: Reply, request: Request) -> Reply:
    """The reply when it is a success; else the fault it stands for."""
    if reply.ok:
        return reply
    where = f"Graph {reply.status} on {request.method} {_shape(request.url)}"
    if is_transient_status(reply.status):
        raise Transient(where, reply.retry_after())
    if reply.status == 403:
        raise Refused(f"{where}: permission missing, grant the application permission "
                      f"{request.permission} (docs/targets.md, Admin consent)")
    raise Refused(f"{where}" + (f" {reply.code}" if reply.code else ""))


def token_for(settings: EntraSettings) -> str:
    """A bearer token for Graph, from the configured `auth`. Raises Refused."""
    if settings.auth == "token":
        token = os.environ.get(settings.token_env or "")
        if not token:
            raise Refused(f"environment variable {settings.token_env} (the Graph token) is not set")
        return token
    try:
        scope = f"{settings.graph_url}/.default"
        return _credential(settings).get_token(scope).token
    except AzureError as error:
        raise Transient(f"no Graph token ({type(error).__name__})") from None


def _credential(settings: EntraSettings) -> Any:
    """One azure-identity credential per configuration (it caches its tokens)."""
    key = (settings.auth, settings.tenant_id, settings.client_id, settings.secret_env)
    with _credentials_lock:
        if key not in _credentials:
            _credentials[key] = _new_credential(settings)
        return _credentials[key]


def _new_credential(settings: EntraSettings) -> Any:
    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    if settings.auth == "client_secret":
        secret = os.environ.get(settings.secret_env or "")
        if not secret:
            raise Refused(f"environment variable {settings.secret_env} (the client secret) is not set")
        return ClientSecretCredential(settings.tenant_id, settings.client_id, secret)
    return DefaultAzureCredential()


class GraphSession:
    """Calls to one tenant's Graph with one token."""

    def __init__(self, client: httpx.Client, token: str):
        self.client = client
        self._auth = {"Authorization": f"Bearer {token}"}

    def send(self, requests: list[Request]) -> list[Reply]:
        """Each request's reply, in order (one call for one request, else $batches)."""
        if len(requests) == 1:
            return [self._one(requests[0])]
        replies: list[Reply] = []
        for start in range(0, len(requests), BATCH_LIMIT):
            replies.extend(self._batch(requests[start : start + BATCH_LIMIT]))
        return replies

    def call(self, request: Request) -> Reply:
        """One request whose failure is a fault (see `check`)."""
        return check(self._one(request), request)

    def get_url(self, url: str, permission: str) -> Reply:
        """A URL Graph handed out (@odata.nextLink, @odata.deltaLink): only on Graph's own
        address, so the bearer token never goes anywhere else."""
        base = str(self.client.base_url).rstrip("/") + "/"
        if url.startswith("http") and not url.startswith(base):
            raise Refused("Graph handed out a link to another address; not followed")
        return check(self._exchange("GET", url, None), Request("GET", url, permission=permission))

    def _one(self, request: Request) -> Reply:
        return self._exchange(request.method, f"/{VERSION}{request.url}", request.body)

    def _batch(self, requests: list[Request]) -> list[Reply]:
        envelope = {"requests": [_batch_item(str(n), r) for n, r in enumerate(requests, start=1)]}
        reply = check(self._exchange("POST", f"/{VERSION}/$batch", envelope),
                      Request("POST", "/$batch", permission=requests[0].permission))
        answers = {str(item.get("id")): item for item in reply.body.get("responses", [])}
        replies = []
        for n, _ in enumerate(requests, start=1):
            item = answers.get(str(n))
            if item is None:
                raise Transient(f"Graph $batch answered without request {n}")
            body = item.get("body")
            replies.append(Reply(int(item.get("status", 500)), body if isinstance(body, dict) else {},
                                 dict(item.get("headers") or {})))
        return replies

    def _exchange(self, method: str, url: str, body: dict | None) -> Reply:
        try:
            response = self.client.request(method, url, json=body, headers=self._auth)
        except httpx.TransportError as error:
            raise Transient(f"Graph {transport_fault(error).note}") from error
        except httpx.HTTPError as error:
            raise Refused(f"Graph exchange failed ({type(error).__name__})") from error
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = {}
        return Reply(response.status_code, data if isinstance(data, dict) else {}, dict(response.headers))


@contextmanager
def session(settings: EntraSettings, transport: httpx.BaseTransport | None = None,
            target_id: str | None = None) -> Iterator[GraphSession]:
    """A GraphSession on `settings.graph_url` over the target's pooled client (kept alive,
    at most `concurrency` connections: docs/targets.md); the token rides on each request, so
    a renewed token keeps the connections. Raises Refused/Transient without a token."""
    token = token_for(settings)
    client = client_for(target_id or f"graph|{settings.graph_url}|{settings.client_id}", url=settings.graph_url,
                        base_url=settings.graph_url, timeout=settings.timeout_seconds,
                        concurrency=settings.concurrency, transport=transport, field="settings.graph_url",
                        headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    yield GraphSession(client, token)


def _batch_item(request_id: str, request: Request) -> dict[str, Any]:
    item: dict[str, Any] = {"id": request_id, "method": request.method, "url": request.url}
    if request.body is not None:
        item["headers"] = {"Content-Type": "application/json"}
        item["body"] = request.body
    return item


def _shape(url: str) -> str:
    """A URL with its ids replaced, fit for a note: /users/{id}/revokeSignInSessions."""
    parts = url.split("?")[0].split("/")
    return "/".join("{id}" if _ID.fullmatch(p) or "@" in p else p for p in parts)
