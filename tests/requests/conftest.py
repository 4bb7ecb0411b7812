"""Fixtures of the request desk suites: a service, a form response, the flow's and the desk's
keys, the notification queue drained into the outbox, a local HTTP endpoint that records."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from devhost.host import Host
from shared.models.messages import Email
from shared.models.provisioning import Target
from shared.runtime import Runtime, use_runtime
from shared.services.notifications import send
from shared.store.targets import TargetRepository
from tests.conftest import KEYS as BASE_KEYS

ROOT = Path(__file__).resolve().parents[2]
KEYS = {**BASE_KEYS, "flow-key": ["Requests.Submit"], "desk-key": ["Requests.Manage"]}
STAFF = "identity-desk@example.edu"


@pytest.fixture
def api_keys() -> dict[str, list[str]]:
    return KEYS


@pytest.fixture
def extra_settings() -> dict[str, str]:
    return {"ROSTER_STAFF_EMAIL": STAFF, "ROSTER_PUBLIC_URL": "https://roster.example.edu/"}


@pytest.fixture
def wiki(rt) -> Target:
    """The service clients ask about (a manual target)."""
    target = Target(id="wiki", name="Team wiki")
    TargetRepository(rt.store).save(target)
    return target


@pytest.fixture(scope="session")
def functions() -> dict[str, Any]:
    """Name → user function of the real app."""
    from tests.functions.conftest import fresh_app_functions

    return {f.get_function_name(): f.get_user_function() for f in fresh_app_functions()}


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


@pytest.fixture
def endpoint() -> Iterator[Recorder]:
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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def desk(tmp_path, endpoint):
    """(client, host, teams): devhost with the real function_app, the request desk's keys and
    a Teams webhook pointing at a local recorder."""
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())
    sample["Values"].update(
        ROSTER_API_KEYS=json.dumps(KEYS),
        ROSTER_STAFF_EMAIL=STAFF,
        ROSTER_PUBLIC_URL="https://roster.example.edu",
        ROSTER_TEAMS_WEBHOOK=f"{endpoint.url}/teams",
    )
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps(sample))
    use_runtime(None)
    host = Host(
        "function_app:app", settings_path=settings, host_json=ROOT / "host.json",
        data_dir=tmp_path / "data", poll_interval=0.02,
    )  # fmt: skip
    url = host.start()
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client, host, endpoint
    finally:
        host.stop()
        use_runtime(None)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
