"""HTTP spans of API routes and console pages: the route template, never the path a caller
sent (it holds ids) nor its query string; the status; a refused call is a span too. The
timers that may send messages are spans too."""

from __future__ import annotations

from azure.functions.timer import TimerRequest
from opentelemetry.trace import SpanKind, StatusCode

from tests.helpers.app import http
from tests.helpers.telemetry import recording


def test_a_route_is_recorded_by_its_template_with_the_status(rt, functions):
    with recording() as recorded:
        response = functions["persons_get"](http("GET", "persons/p-nobody", route={"id": "p-nobody"},
                                                 params={"q": "Lovelace"}))
        assert response.status_code == 404
    (span,) = recorded.spans()
    assert span.name == "GET /api/persons/{id}" and span.kind == SpanKind.SERVER
    assert dict(span.attributes) == {"http.request.method": "GET", "http.route": "/api/persons/{id}",
                                     "roster.function": "persons_get", "http.response.status_code": 404}
    assert span.status.status_code != StatusCode.ERROR  # a 4xx is the caller's, not a fault
    assert "Lovelace" not in str(recorded.every_text())


def test_an_unauthenticated_call_and_a_console_page_are_spans_too(rt, functions):
    with recording() as recorded:
        assert functions["persons_search"](http("GET", "persons", key=None)).status_code == 401
        assert functions["console_stylesheet"](http("GET", "console/static/console.css", key=None)).status_code == 200
    assert [(s.name, s.attributes["http.response.status_code"]) for s in recorded.spans()] == [
        ("GET /api/persons", 401), ("GET /api/console/static/console.css", 200)]
    durations = recorded.points("http.server.request.duration")
    assert {dict(p.attributes)["http.route"] for p in durations} == {"/api/persons", "/api/console/static/console.css"}


def test_the_sweep_and_reconciliation_timers_are_root_spans(rt, functions):
    with recording() as recorded:
        functions["chain_sweep"](TimerRequest(past_due=False))
        functions["group_due_sweep"](TimerRequest(past_due=False))
        functions["targets_reconcile_timer"](TimerRequest(past_due=False))
    assert [s.name for s in recorded.spans()] == ["timer chain_sweep", "timer group_due_sweep",
                                                  "timer targets_reconcile"]
    assert all(s.parent is None for s in recorded.spans())
