"""The request desk's helpers: a form response as Power Automate posts it, the notification
queue drained as its trigger does, and a local HTTP endpoint that records what it is sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from shared.models.messages import Email
from shared.runtime import Runtime
from shared.services.notifications import send
from tests.helpers.servers import serving

STAFF = "identity-desk@example.edu"


def form(form_response_id: str = "F-1001", **over: Any) -> dict:
    """A form response as the Power Automate flow posts it."""
    body: dict[str, Any] = {
        "version": 1,
        "form_response_id": form_response_id,
        "submitted_at": "2026-11-02T08:55:00+00:00",
        "requester": {"email": "grace.hopper@example.edu", "name": "Grace Hopper"},
        "service": "wiki",
        "category": "invite",
        "details": "Two new colleagues join the project on Monday.",
        "accounts": [
            {"email": "alan.turing@example.edu", "name": "Alan Turing"},
            {"email": "ada.lovelace@example.edu", "name": "Ada Lovelace"},
        ],
    }
    body.update(over)
    return body


def deliver(rt: Runtime) -> list[dict]:
    """Send every queued notification (as the queue trigger does); the emails it sent."""
    queue = rt.settings.queue("notification")
    sent = []
    while (delivery := rt.bus.receive(queue)) is not None:
        email = Email.model_validate_json(delivery.body)
        send(rt, email)
        rt.bus.complete(delivery)
        sent.append(email.model_dump(mode="json"))
    return sent


@dataclass
class Recorder:
    """A local HTTP endpoint: records each POST and answers `status`."""

    url: str = ""
    status: int = 200
    answer: dict = field(default_factory=dict)
    posts: list[dict] = field(default_factory=list)


@contextmanager
def recording_endpoint() -> Iterator[Recorder]:
    """A Recorder listening on 127.0.0.1 until the block ends."""
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 — http.server's naming
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            recorder.posts.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(body or b"null")}
            )
            data = json.dumps(recorder.answer).encode()
            self.send_response(recorder.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as url:
        recorder.url = url
        yield recorder
