"""devhost carries the trace too: a caller's `traceparent` header starts the trace that every
queue hop of the local bus continues (the real function_app over HTTP, docs/telemetry.md)."""

from __future__ import annotations

from tests.factories import hr_update
from tests.helpers.keys import auth
from tests.helpers.roster import running
from tests.helpers.telemetry import recording

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"  # a caller's W3C trace context


def test_a_callers_trace_runs_through_devhosts_queue_pumps(tmp_path):
    with recording() as recorded, running(tmp_path, ROSTER_CHAIN="async") as (client, host):
        response = client.post("/api/persons", json=hr_update(), headers={**auth("hr-key"), "traceparent": CALLER})
        assert response.status_code == 202, response.text
        host.drain()
        (served,) = recorded.named("POST /api/persons")
        assert format(served.context.trace_id, "032x") == CALLER_TRACE
        assert format(served.parent.span_id, "016x") == "00f067aa0ba902b7"  # the caller's span
        processed = [s for s in recorded.spans() if s.name.startswith("process ")]
        assert {s.name for s in processed} >= {"process person-update", "process person-changed"}
        assert {format(s.context.trace_id, "032x") for s in processed} == {CALLER_TRACE}
