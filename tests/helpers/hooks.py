"""A keep-alive webhook receiver on 127.0.0.1 for the delivery-speed tests: it counts TCP
connections and requests, records every body, answers single deliveries and batches as a
test scripts them, and can hold requests (to see how many a target gets at once)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[dict], tuple[int, dict | None]]  # a body → (status, JSON answer or None)


def all_accepted(document: dict) -> tuple[int, dict | None]:
    """204 for a single delivery; 200 with a 201 per order for a batch."""
    if "orders" in document:
        return 200, {"results": [{"id": e["order"]["id"], "status": 201} for e in document["orders"]]}
    return 204, None


@dataclass
class Hook:
    url: str = ""
    answer: Answer = all_accepted
    connections: int = 0
    bodies: list[dict] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    hold: threading.Event | None = None  # set: requests go through; clear: they wait for it
    lock: threading.Lock = field(default_factory=threading.Lock)

    def order_ids(self) -> list[str]:
        """Every order id received, in order, batches flattened (repeats kept)."""
        ids = []
        for body in self.bodies:
            ids += [e["order"]["id"] for e in body["orders"]] if "orders" in body else [body["order"]["id"]]
        return ids

    def _enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self.lock:
            self.in_flight -= 1


@contextmanager
def hook(answer: Answer = all_accepted, hold: threading.Event | None = None) -> Iterator[Hook]:
    """A Hook listening until the block ends (HTTP/1.1, keep-alive)."""
    state = Hook(answer=answer, hold=hold)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with state.lock:
                state.connections += 1

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            state._enter()
            try:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                document = json.loads(raw)
                with state.lock:
                    state.raw.append(raw)
                    state.bodies.append(document)
                    state.headers.append(dict(self.headers.items()))
                if state.hold is not None:
                    state.hold.wait(10)
                status, answer = state.answer(document)
            finally:
                state._leave()
            payload = json.dumps(answer).encode() if answer is not None else b""
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            if payload:
                self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        yield state
    finally:
        if hold is not None:
            hold.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
