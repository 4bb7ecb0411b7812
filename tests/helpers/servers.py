"""Real servers on 127.0.0.1 for the connectors: a webhook receiver and scim2-server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from scim2_models import ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.testserver.cli import ThreadingWSGIServer
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on a free 127.0.0.1 port answering with `handler`, until the
    block ends; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Sleeps(list):
    """An injected `sleep` that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# -- the webhook receiver -----------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next scripted (status, delay); the last one repeats."""

    url: str = ""
    script: list[tuple[int, float]] = field(default_factory=lambda: [(204, 0.0)])
    received: list[Received] = field(default_factory=list)

    def answer(self, *answers: int | tuple[int, float]) -> None:
        self.script = [a if isinstance(a, tuple) else (a, 0.0) for a in answers]


@contextmanager
def serve_receiver() -> Iterator[Receiver]:
    """A Receiver listening on 127.0.0.1 until the block ends."""
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                state.received.append(Received(dict(self.headers.items()), body))
                status, delay = state.script[0] if len(state.script) == 1 else state.script.pop(0)
            time.sleep(delay)
            try:
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "7")
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:  # the client gave up waiting
                pass

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as url:
        state.url = f"{url}/hooks/roster"
        yield state


# -- scim2-server ---------------------------------------------------------------------------

SCIM_TOKEN = "scim-test-token"
SCIM_TOKEN_ENV = "ROSTER_TARGET_SECRET_TEST_SCIM"


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class ScimServer:
    """A real scim2-server (the `scim2-server` command's application, in memory) on a free
    port, behind a thin WSGI layer that counts requests and, when a test asks, stands in
    front of it: answering an HTTP status itself, or swallowing PATCH requests."""

    url: str
    app: BearerTokenApplication
    stop: Callable[[], None]
    requests: list[tuple[str, str]] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)  # statuses to answer, one per request
    failures_on: dict[str, list[int]] = field(default_factory=dict)  # "POST /v2/Bulk" → statuses, one per such request
    swallow_patches: bool = False

    def fail_next(self, *statuses: int) -> None:
        self.failures.extend(statuses)

    def settings(self, **over: Any) -> dict[str, Any]:
        return {"url": self.url, "token_env": SCIM_TOKEN_ENV, "timeout_seconds": 5, **over}


def start_scim_server(*, patch: bool = True, bulk: bool = True, max_operations: int | None = None,
                      max_payload_size: int | None = None) -> ScimServer:
    """scim2-server's defaults (PATCH; Bulk of 1000 operations, 1 MiB), or less of them."""
    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    if not patch:
        config.patch.supported = False
    config.bulk.supported = bulk
    config.bulk.max_operations = max_operations or config.bulk.max_operations
    config.bulk.max_payload_size = max_payload_size or config.bulk.max_payload_size
    provider = ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )
    app = BearerTokenApplication(
        InMemoryStorage(), provider, service=ScimService(provider, secret="test-secret"),
        bearer_tokens=[SCIM_TOKEN],
    )  # fmt: skip
    state: ScimServer

    def front(environ: dict, start_response: Callable) -> Iterable[bytes]:
        state.requests.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        aimed = state.failures_on.get(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        if state.failures or aimed:
            status = aimed.pop(0) if aimed else state.failures.pop(0)
            if status >= 502:  # as a gateway says it: a page, no SCIM error
                start_response(f"{status} Gateway", [("Content-Type", "text/html")])
                return [b"<html><body>Bad gateway</body></html>"]
            body = json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                               "status": str(status), "detail": "injected"}).encode()  # fmt: skip
            start_response(f"{status} Injected", [("Content-Type", "application/scim+json")])
            return [body]
        if state.swallow_patches and environ["REQUEST_METHOD"] == "PATCH":
            start_response("204 No Content", [])
            return [b""]
        return app(environ, start_response)

    server = make_server(
        "127.0.0.1", 0, front, server_class=ThreadingWSGIServer, handler_class=_Quiet
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    stopped = threading.Event()

    def stop() -> None:
        if not stopped.is_set():
            stopped.set()
            server.shutdown()
            server.server_close()
            thread.join(5)

    state = ScimServer(url=f"http://127.0.0.1:{server.server_port}/v2", app=app, stop=stop)
    return state
