"""One reused HTTP client per target (docs/targets.md, "Connectors at speed").

Building an httpx client costs tens of milliseconds (the CA bundle is loaded each time) and
a new connection per call; `client_for` instead hands every order of a target the same
`httpx.Client` — thread-safe, keep-alive, at most the target's `concurrency` connections —
built by `outbound.client`, so every request (a redirect included: none is followed) is still
resolved, checked and pinned by shared/outbound.py.

A client is keyed by its target and a fingerprint of what it was built from (URL, timeout,
concurrency, headers, the outbound policy, the transport): a changed setting or secret gets
a new client; the one it replaces is retired and closed with the rest by `close_all`
(at exit, and when the runtime closes), never while a request may still be using it.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from shared import outbound

KEEPALIVE_SECONDS = 30.0


def fingerprint(**parts: Any) -> str:
    """A digest of what a client is built from (secrets in headers are never kept as such)."""
    text = json.dumps(parts, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ClientPool:
    """Target id → (fingerprint, transport, client); thread-safe."""

    def __init__(self) -> None:
        self._clients: dict[str, tuple[str, Any, httpx.Client]] = {}
        self._retired: list[httpx.Client] = []
        self._lock = threading.Lock()
        self.built = 0  # how many clients were made (the pool's tests read it)

    def get(self, target_id: str, key: str, transport: Any, build: Callable[[], httpx.Client]) -> httpx.Client:
        """The client of `target_id` built for `key` and `transport`, made by `build` when
        there is none or the one there was built from something else."""
        with self._lock:
            held = self._clients.get(target_id)
            if held is not None and held[0] == key and held[1] is transport:
                return held[2]
            client = build()
            self.built += 1
            if held is not None:
                self._retired.append(held[2])
            self._clients[target_id] = (key, transport, client)
            return client

    def close_all(self) -> None:
        """Close every client, current and retired (shutdown)."""
        with self._lock:
            clients = [held[2] for held in self._clients.values()] + self._retired
            self._clients, self._retired = {}, []
        for client in clients:
            client.close()


POOL = ClientPool()
atexit.register(POOL.close_all)


def client_for(
    target_id: str,
    *,
    url: str,
    timeout: float,
    concurrency: int,
    headers: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    base_url: str | None = None,
    field: str = "settings.url",
) -> httpx.Client:
    """The pooled client of one target: at most `concurrency` connections, kept alive
    (`field`: the setting an outbound refusal names)."""
    policy = outbound.current_policy()
    key = fingerprint(url=url, timeout=timeout, concurrency=concurrency, base_url=base_url, policy=policy, field=field,
                      headers=hashlib.sha256(json.dumps(dict(headers or {}), sort_keys=True).encode()).hexdigest())
    options: dict[str, Any] = {"headers": dict(headers or {}), "timeout": timeout}
    if base_url is not None:
        options["base_url"] = base_url
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency,
                          keepalive_expiry=KEEPALIVE_SECONDS)

    def build() -> httpx.Client:
        inner = transport or httpx.HTTPTransport(limits=limits)
        return outbound.client(field=field, transport=inner, policy=policy, **options)

    return POOL.get(target_id, key, transport, build)
