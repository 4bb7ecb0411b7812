"""One trace from an HTTP call through every queue hop to the connector, also across a crash
and the relay of a restarted process; the metrics the chain records; no personal data in
anything exported (docs/telemetry.md). The chain runs in-process on SQLite files through the
app's own functions (tests/chain/harness.py), telemetry recorded in memory."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from opentelemetry.trace import SpanKind

from shared.clock import TravelClock
from shared.faults import FaultPlan, SimulatedCrash
from shared.models.group import GroupIn
from shared.models.provisioning import Policy, Target
from shared.services import groups
from shared.store.persons import PersonRepository
from shared.store.targets import TargetRepository
from tests.chain.harness import SECRET, SECRET_ENV, Roster, receiver, restart
from tests.factories import hr_update
from tests.helpers.app import http, payload
from tests.helpers.keys import KEYS
from tests.helpers.telemetry import Recorded, recording

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FIN_RULE = 'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -eq "FIN")'
SOURCE_ID = "HR-774411"  # an HR employee number: personal data, like the name and email below
NATIONAL_ID, BIRTH_DATE = "AB 12 34 56", "1815-12-10"
PERSONAL = (SOURCE_ID, "Ada", "Lovelace", "ada.lovelace@example.edu", NATIONAL_ID, "AB123456", BIRTH_DATE)
ADA = hr_update(source_id=SOURCE_ID, national_id=NATIONAL_ID, birth_date=BIRTH_DATE)
HOPS = ["connector webhook", "process provisioning-order", "send provisioning-order", "process group-update",
        "send group-update", "process person-changed", "send person-changed", "process person-update",
        "POST /api/persons"]


@dataclass
class CrashBefore(FaultPlan):
    """Dies before the first boundary named `boundary` (e.g. "publish person-changed")."""

    boundary: str = ""

    def step(self, what: str) -> None:
        if self.crash_at is None and what == self.boundary:
            self.crash_at = len(self.seen) + 1
        super().step(what)


@pytest.fixture
def hook(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with receiver() as r:
        yield r


def closed_port() -> int:
    """A loopback port nothing listens on (a target that is down: connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp_path, url: str, plan: FaultPlan | None = None) -> Roster:
    """A webhook target `hook` at `url`, a Finance group that grants it; API keys for calls."""
    roster = Roster(tmp_path / "data", TravelClock(START), plan, more_settings={
        "ROSTER_API_KEYS": json.dumps(KEYS), "ROSTER_NATIONAL_ID_KEY": "test-national-id-key"})
    TargetRepository(roster.rt.store).save(Target(id="hook", name="Hook", connector="webhook", settings={
        "url": url, "secret_env": SECRET_ENV, "timeout_seconds": 5, "retries": 1}))
    groups.create_group(roster.rt, GroupIn(id="fin", name="Finance", kind="dynamic", rule=FIN_RULE), "admin")
    TargetRepository(roster.rt.store).add_policy("hook", Policy(group_id="fin"))
    roster.drain()
    return roster


def post_person(roster: Roster) -> None:
    """HR posts Ada (async: the call answers 202 and the chain runs on the queues)."""
    response = roster.functions["persons_register"](
        http("POST", "persons", body=ADA, params={"mode": "async"}))
    assert response.status_code == 202, payload(response)


@contextmanager
def chain_run(tmp_path, url: str) -> Iterator[tuple[Roster, Recorded]]:
    """Ada posted and the chain drained, telemetry recorded; the roster closed after."""
    roster = start(tmp_path, url)
    try:
        with recording() as recorded:
            post_person(roster)
            roster.drain()
            yield roster, recorded
    finally:
        roster.close()


def ancestry(recorded: Recorded, name: str) -> list[str]:
    """The names from the span `name` up its parents to the root (all must be recorded)."""
    by_id = {s.context.span_id: s for s in recorded.spans()}
    (span,) = recorded.named(name)
    names = [span.name]
    while span.parent is not None:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


def test_one_trace_runs_from_the_http_call_through_every_queue_hop_to_the_connector(tmp_path, hook):
    with chain_run(tmp_path, hook.url) as (roster, recorded):
        assert len(hook.received) == 1  # the account was created at the target
        assert ancestry(recorded, "connector webhook") == HOPS
        (root,) = recorded.named("POST /api/persons")
        assert root.kind == SpanKind.SERVER and root.parent is None
        assert root.attributes["http.route"] == "/api/persons"
        assert root.attributes["http.response.status_code"] == 202
        assert {s.context.trace_id for s in recorded.spans()} == {root.context.trace_id}
        (process,) = recorded.named("process provisioning-order")
        assert process.kind == SpanKind.CONSUMER and process.attributes["roster.outcome"] == "ok"
        assert process.attributes["roster.order_id"]
        person_id = PersonRepository(roster.rt.store).owner_of("hr", SOURCE_ID)
        assert recorded.named("process group-update")[0].attributes["roster.person_id"] == person_id


def test_the_chain_records_order_transitions_queue_lag_connector_latency_and_http_duration(tmp_path, hook):
    with chain_run(tmp_path, hook.url) as (_, recorded):
        assert recorded.total("roster.order.transitions", **{
            "roster.target": "hook", "roster.order.from_state": "new", "roster.order.state": "Pending"}) == 1
        assert recorded.total("roster.order.transitions", **{
            "roster.target": "hook", "roster.order.from_state": "Pending", "roster.order.state": "Executed"}) == 1
        lags = {dict(p.attributes)["messaging.destination.name"]: p for p in recorded.points("roster.queue.lag")}
        assert {"person-update", "person-changed", "group-update", "provisioning-order"} <= set(lags)
        assert all(p.min >= 0 for p in lags.values())
        (call,) = recorded.points("roster.connector.duration")
        assert dict(call.attributes) == {"roster.target": "hook", "roster.connector": "webhook",
                                         "roster.outcome": "executed"}
        assert call.count == 1
        assert recorded.points("roster.connector.errors") == []
        (served,) = recorded.points("http.server.request.duration")
        assert dict(served.attributes) == {"http.request.method": "POST", "http.route": "/api/persons",
                                           "http.response.status_code": 202}
        assert recorded.total("roster.queue.messages", **{"roster.outcome": "ok"}) >= 4


def test_a_target_that_is_down_counts_a_connector_error_and_marks_its_span(tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with chain_run(tmp_path, f"http://127.0.0.1:{closed_port()}/hook") as (_, recorded):
        assert recorded.total("roster.connector.errors", **{
            "roster.target": "hook", "roster.connector": "webhook", "roster.outcome": "transient"}) == 1
        (span,) = recorded.named("connector webhook")
        assert span.attributes["roster.outcome"] == "transient"
        assert not span.status.is_ok


def test_a_message_the_relay_publishes_after_a_restart_still_joins_its_trace(tmp_path, hook):
    """The process dies after storing Ada with her person-changed event but before publishing
    it: the restarted process's relay sends it from the outbox row, in the trace it was caused in."""
    roster = start(tmp_path, hook.url, CrashBefore(boundary="publish person-changed"))
    with recording() as recorded:
        post_person(roster)
        with pytest.raises(SimulatedCrash):
            roster.drain()
        (died,) = recorded.named("process person-update")
        assert died.attributes["roster.outcome"] == "failed"
        roster = restart(roster)
        try:
            before = len(recorded.spans())
            roster.recover()  # the relay first, then the queues (the person-update comes again), the sweep
            assert len(hook.received) == 1
            relayed = next(s for s in recorded.spans()[before:] if s.name == "send person-changed")
            assert relayed.parent.span_id == died.context.span_id  # the outbox row carried it
            assert relayed.context.trace_id == died.context.trace_id
            (root,) = recorded.named("POST /api/persons")
            assert recorded.named("connector webhook")[0].context.trace_id == root.context.trace_id
            assert ancestry(recorded, "connector webhook")[-3:] == HOPS[-3:]
        finally:
            roster.close()


def test_nothing_exported_names_the_person_only_pseudonymous_ids(tmp_path, hook, caplog):
    """Spans, metrics and the `roster` loggers' records of a whole chain — a valid update, a
    malformed one (parked) and a refused call — hold no name, email, national id, birth date
    or source id."""
    with chain_run(tmp_path, hook.url) as (roster, recorded):
        bad = {**ADA, "emails": [{"address": "ada.lovelace@@example.edu", "type": "work"}]}
        refused = roster.functions["persons_register"](http("POST", "persons", body=bad))
        assert refused.status_code == 422
        roster.rt.bus.publish(roster.settings.queue("person-update"), json.dumps(bad), "bad-1")
        roster.drain()
        texts = recorded.every_text()
        assert len(recorded.spans()) >= len(HOPS) + 2
        person_id = PersonRepository(roster.rt.store).owner_of("hr", SOURCE_ID)
        assert any(person_id in text for text in texts)  # the scan reads attributes: the pseudonymous id is there
        assert any("dead-lettered" in text for text in texts)  # and log records
        assert recorded.named("process person-update")[-1].attributes["roster.outcome"] == "parked"
        leaks = [(word, text) for text in texts for word in (*PERSONAL, "ada.lovelace") if word in text]
        assert leaks == []
