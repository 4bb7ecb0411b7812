"""Setting telemetry up: the modes ROSTER_TELEMETRY and APPLICATIONINSIGHTS_CONNECTION_STRING
ask for, nothing at all when off, Azure Monitor with every automatic instrumentation off, and
the trace context read from message properties as the SDK and the host give them."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import function_app
from shared import telemetry
from shared.bus.local import LocalBus
from shared.store.outbox import Outgoing
from tests.helpers.telemetry import recording

ROOT = Path(__file__).resolve().parents[2]
# Application Insights at a loopback port nothing listens on: whatever the exporters send fails at once.
LOOPBACK_INSIGHTS = ("InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                     "IngestionEndpoint=http://127.0.0.1:9/;LiveEndpoint=http://127.0.0.1:9/")
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(("environ", "mode"), [
    ({}, "off"),
    ({"APPLICATIONINSIGHTS_CONNECTION_STRING": LOOPBACK_INSIGHTS}, "azure"),
    ({"APPLICATIONINSIGHTS_CONNECTION_STRING": LOOPBACK_INSIGHTS, "ROSTER_TELEMETRY": "off"}, "off"),
    ({"ROSTER_TELEMETRY": " Console "}, "console"),
])
def test_the_mode_follows_the_setting_and_the_connection_string(environ, mode):
    assert telemetry.mode_of(environ) == mode


@pytest.mark.parametrize("environ", [{"ROSTER_TELEMETRY": "otlp"}, {"ROSTER_TELEMETRY": "azure"}])
def test_an_unknown_mode_or_azure_without_a_connection_string_is_refused(environ):
    with pytest.raises(telemetry.TelemetryError, match="ROSTER_TELEMETRY"):
        telemetry.mode_of(environ)


@pytest.mark.parametrize("environ", [{"ROSTER_TELEMETRY": "otlp"}, {"ROSTER_TELEMETRY": "azure"}])
def test_a_setting_telemetry_cannot_use_is_logged_and_telemetry_stays_off(environ, caplog):
    assert telemetry.setup(environ) == "off"
    assert not telemetry.enabled()
    assert [r.levelname for r in caplog.records if r.name == "roster.telemetry"] == ["ERROR"]


def run_app(code: str, **environ: str) -> dict:
    """`code` run after importing function_app in a fresh interpreter; its last line is JSON."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("ROSTER_TELEMETRY", "APPLICATIONINSIGHTS_CONNECTION_STRING")}
    # the distro's own calls home (statsbeat, the OneSettings control plane) off: only loopback traffic
    env.update(environ, APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL="true", APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED="true",
               PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", f"import function_app, json, sys\n{code}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return {"out": json.loads(done.stdout.strip().splitlines()[-1]), "err": done.stderr}


def test_off_nothing_is_set_up_or_even_imported():
    result = run_app(
        "from opentelemetry import trace\n"
        "from shared import telemetry\n"
        "print(json.dumps({'enabled': telemetry.enabled(), 'carrier': telemetry.carrier(),"
        " 'provider': type(trace.get_tracer_provider()).__name__,"
        " 'loaded': sorted(m for m in sys.modules if m.startswith(('azure.monitor', 'opentelemetry.sdk')))}))")
    assert result["out"] == {"enabled": False, "carrier": {}, "provider": "ProxyTracerProvider", "loaded": []}


def test_with_a_connection_string_azure_monitor_is_set_up_without_automatic_instrumentation():
    result = run_app(
        "from opentelemetry import trace\n"
        "from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor\n"
        "from opentelemetry.instrumentation.requests import RequestsInstrumentor\n"
        "from azure.core.settings import settings\n"
        "import logging\n"
        "from shared import telemetry\n"
        "print(json.dumps({'enabled': telemetry.enabled(), 'setup': telemetry.setup(),"
        " 'provider': type(trace.get_tracer_provider()).__name__,"
        " 'httpx': HTTPXClientInstrumentor().is_instrumented_by_opentelemetry,"
        " 'requests': RequestsInstrumentor().is_instrumented_by_opentelemetry,"
        " 'azure_sdk': settings.tracing_implementation() is not None,"
        " 'roster_logs': [type(h).__name__ for h in logging.getLogger('roster').handlers],"
        " 'root_logs': [type(h).__name__ for h in logging.getLogger().handlers]}))",
        APPLICATIONINSIGHTS_CONNECTION_STRING=LOOPBACK_INSIGHTS)
    assert result["out"] == {"enabled": True, "setup": "azure", "provider": "TracerProvider", "httpx": False,
                             "requests": False, "azure_sdk": False, "roster_logs": ["LoggingHandler"],
                             "root_logs": []}


def test_a_connection_string_the_distro_refuses_leaves_the_app_running_without_telemetry():
    result = run_app("from shared import telemetry\n"
                     "print(json.dumps({'enabled': telemetry.enabled(), 'apps': len(function_app.BLUEPRINTS)}))",
                     APPLICATIONINSIGHTS_CONNECTION_STRING="not a connection string")
    assert result["out"] == {"enabled": False, "apps": len(function_app.BLUEPRINTS)}
    assert "telemetry stays off" in result["err"]


def test_console_mode_prints_spans_to_stderr():
    result = run_app(
        "from shared import telemetry\n"
        "with telemetry.span('roster.check', person_id='p-1', email='ada@example.edu'):\n"
        "    pass\n"
        "print(json.dumps({'mode': telemetry.setup()}))",
        ROSTER_TELEMETRY="console")
    assert result["out"] == {"mode": "console"}
    assert '"name": "roster.check"' in result["err"]
    assert '"roster.person_id": "p-1"' in result["err"]
    assert "ada@example.edu" not in result["err"]  # not an allowed attribute: dropped


def test_the_trace_context_is_read_from_sdk_bytes_and_from_diagnostic_id_alone():
    assert telemetry.carried({b"traceparent": TRACEPARENT.encode(), b"x-other": b"1"}) == {"traceparent": TRACEPARENT}
    assert telemetry.carried({"Diagnostic-Id": TRACEPARENT}) == {"Diagnostic-Id": TRACEPARENT,
                                                                 "traceparent": TRACEPARENT}
    assert telemetry.carried(None) == {}


def test_a_span_writes_its_context_as_traceparent_and_diagnostic_id():
    with recording() as recorded, telemetry.span("roster.work"):
        properties = telemetry.carrier()
        outgoing = Outgoing("person-changed", "{}", "m-1")
    (span,) = recorded.named("roster.work")
    expected = f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-{int(span.context.trace_flags):02x}"
    assert properties == {"traceparent": expected, "Diagnostic-Id": expected}
    assert outgoing.trace == properties
    assert Outgoing.of(outgoing.op("person:p-1").entity).trace == {"traceparent": expected}


def test_a_span_joins_the_trace_another_process_carried_over_else_the_current_one():
    """A bulk worker's chunk span: a child of the loading call's span, whose carrier() it got."""
    with recording() as recorded:
        with telemetry.span("call"):
            carried = telemetry.carrier()
        with telemetry.span("chunk", carried=carried), telemetry.span("inside"):
            pass
        with telemetry.span("alone", carried={}):
            pass
    (call,), (chunk,), (inside,), (alone,) = (recorded.named(n) for n in ("call", "chunk", "inside", "alone"))
    assert chunk.context.trace_id == call.context.trace_id and chunk.parent.span_id == call.context.span_id
    assert inside.parent.span_id == chunk.context.span_id
    assert alone.parent is None and alone.context.trace_id != call.context.trace_id


def test_off_messages_carry_no_properties(tmp_path):
    assert not telemetry.enabled()
    assert Outgoing("person-changed", "{}", "m-1").trace == {}
    bus = LocalBus(str(tmp_path / "bus.db"))
    bus.publish("q", "{}", "m-1")
    assert bus.receive("q").properties == {}
    bus.close()


def test_the_local_bus_keeps_properties_through_delivery_dead_letter_and_replay(tmp_path):
    bus = LocalBus(str(tmp_path / "bus.db"), max_delivery_count=1)
    bus.publish("q", "{}", "m-1", properties={"traceparent": TRACEPARENT})
    first = bus.receive("q")
    assert first.properties == {"traceparent": TRACEPARENT}
    bus.abandon(first)
    assert bus.receive("q") is None  # dead-lettered on the next receive
    new_id = bus.replay("q", "m-1")
    assert bus.receive("q").properties == {"traceparent": TRACEPARENT}
    assert new_id.startswith("replay:")
    bus.close()


def test_a_bus_file_from_before_properties_gets_the_column_and_keeps_its_messages(tmp_path):
    path = tmp_path / "bus.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, message_id TEXT NOT NULL,"
        " body BLOB NOT NULL, session_id TEXT, enqueued_at INTEGER NOT NULL, scheduled_at INTEGER,"
        " visible_at INTEGER NOT NULL, delivery_count INTEGER NOT NULL DEFAULT 0, lock_token TEXT,"
        " locked_until INTEGER);"
        "INSERT INTO messages (queue, message_id, body, enqueued_at, visible_at) VALUES ('q', 'old', X'7B7D', 0, 0);"
        "CREATE TABLE dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,"
        " message_id TEXT NOT NULL, body BLOB NOT NULL, session_id TEXT, delivery_count INTEGER NOT NULL,"
        " reason TEXT NOT NULL, description TEXT NOT NULL, dead_lettered_at INTEGER NOT NULL);")
    old.commit()
    old.close()
    bus = LocalBus(str(path))
    delivery = bus.receive("q")
    assert (delivery.message_id, delivery.properties) == ("old", {})
    bus.close()
