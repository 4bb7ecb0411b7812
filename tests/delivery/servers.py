"""Webhook receivers on 127.0.0.1 for the delivery suite: one that answers with a status,
one that hangs (accepts the request and never answers until told to)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """A webhook receiver: `status` is what it answers (0: hang until `release`), with
    `retry_after` as the Retry-After header when set; `orders` lists the order ids it got."""

    def __init__(self, status: int = 200, retry_after: str | None = None):
        self.status = status
        self.retry_after = retry_after
        self.orders: list[str] = []
        self.requests = 0
        self._released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.requests += 1
                if receiver.status == 0:
                    receiver._released.wait(10)  # hang: the caller times out first
                    return
                receiver.orders.append(json.loads(body)["order"]["id"])
                self.send_response(receiver.status)
                if receiver.retry_after is not None:
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def answer(self, status: int) -> None:
        """Answer `status` from now on; a hanging receiver lets its held requests go."""
        self.status = status
        if status:
            self._released.set()

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._released.set()
        self.server.shutdown()
        self.server.server_close()
