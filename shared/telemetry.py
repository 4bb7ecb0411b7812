"""Telemetry: OpenTelemetry traces and metrics of the chain (docs/telemetry.md).

Contract:
- `setup()` runs once per process (function_app.py, devhost). It reads ROSTER_TELEMETRY
  (`off`, `console` or `azure`; unset: `azure` when APPLICATIONINSIGHTS_CONNECTION_STRING is
  set, else `off`). Off, nothing is set up and every helper here returns at once.
- One trace follows an HTTP call or a queue message through every queue hop: `carrier()`
  writes the current span's W3C trace context (`traceparent`, `tracestate`, and the same
  value as Service Bus's `Diagnostic-Id`) into a message's application properties;
  `handling()` continues the trace of the message it is given; `sending()` makes the
  producer span of a message published later (the outbox relay) under the trace it was
  recorded in.
- Spans and metrics carry pseudonymous ids only (person, order, target, request ids, queue
  and route names): never a name, an email, a national id or a source id (an HR number).
  `safe_attributes` drops any other attribute a caller passes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SETTING = "ROSTER_TELEMETRY"
CONNECTION = "APPLICATIONINSIGHTS_CONNECTION_STRING"
MODES = ("off", "console", "azure")
TRACEPARENT, TRACESTATE, DIAGNOSTIC_ID = "traceparent", "tracestate", "Diagnostic-Id"
CARRIED = (TRACEPARENT, TRACESTATE, DIAGNOSTIC_ID)
SCOPE = "roster"
# Every attribute Roster writes: ids Roster made (opaque), names of its own routes, queues
# and targets, and outcomes. Anything else a caller passes is dropped (docs/telemetry.md).
ALLOWED = frozenset({
    "http.request.method", "http.route", "http.response.status_code", "error.type",
    "messaging.system", "messaging.operation.type", "messaging.destination.name",
    "messaging.message.id", "messaging.message.delivery_count",
    "roster.function", "roster.queue", "roster.person_id", "roster.order_id", "roster.request_id",
    "roster.target", "roster.connector", "roster.outcome", "roster.order.state", "roster.order.from_state",
})
# The Azure Monitor distro's automatic instrumentations, all off: the URLs they record carry
# table keys, SCIM filters and Graph queries, which can hold personal data.
AUTOMATIC = ("azure_sdk", "django", "fastapi", "flask", "httpx", "httpx2", "psycopg2", "requests", "urllib",
             "urllib3")

log = logging.getLogger("roster.telemetry")
_propagator = TraceContextTextMapPropagator()
_lock = threading.Lock()


class TelemetryError(ValueError):
    """ROSTER_TELEMETRY names no mode, or asks for Azure without a connection string."""


@dataclass
class _Instruments:
    """The tracer and the instruments of one installed pipeline."""

    tracer: trace.Tracer
    http_duration: Any
    queue_lag: Any
    handled: Any
    connector_duration: Any
    connector_errors: Any
    transitions: Any

    @classmethod
    def of(cls, tracer_provider: Any, meter_provider: Any) -> _Instruments:
        meter = meter_provider.get_meter(SCOPE)
        return cls(
            tracer=tracer_provider.get_tracer(SCOPE),
            http_duration=meter.create_histogram(
                "http.server.request.duration", unit="s", description="Duration of HTTP calls Roster served"),
            queue_lag=meter.create_histogram(
                "roster.queue.lag", unit="s", description="From a message's enqueue (or due) time to its handling"),
            handled=meter.create_counter(
                "roster.queue.messages", unit="{message}", description="Queue messages handled, by outcome"),
            connector_duration=meter.create_histogram(
                "roster.connector.duration", unit="s", description="One connector call for one order"),
            connector_errors=meter.create_counter(
                "roster.connector.errors", unit="{error}", description="Connector calls that did not succeed"),
            transitions=meter.create_counter(
                "roster.order.transitions", unit="{order}",
                description="Orders stored in a state (from_state `new`: created)"),
        )


_on: _Instruments | None = None
_mode = "off"


# -- set-up ---------------------------------------------------------------------------------


def mode_of(environ: Mapping[str, str]) -> str:
    """The mode the environment asks for (see the module's docstring)."""
    asked = (environ.get(SETTING) or "").strip().lower()
    if not asked:
        return "azure" if environ.get(CONNECTION) else "off"
    if asked not in MODES:
        raise TelemetryError(f"{SETTING} must be one of {', '.join(MODES)}, not {asked!r}")
    if asked == "azure" and not environ.get(CONNECTION):
        raise TelemetryError(f"{SETTING}=azure needs {CONNECTION}")
    return asked


def setup(environ: Mapping[str, str] | None = None) -> str:
    """Set telemetry up for this process as the environment asks, once; returns the mode.
    Off, nothing is imported or installed. Telemetry is not part of the chain: a setting it
    cannot use (an unknown mode, a malformed connection string) is logged as an error and
    telemetry stays off, rather than stopping every function."""
    global _mode
    env = os.environ if environ is None else environ
    with _lock:
        if _on is not None:
            return _mode
        try:
            wanted = mode_of(env)
            if wanted == "azure":
                _azure(env)
            elif wanted == "console":
                _console()
        except ValueError as error:  # TelemetryError, or the distro refusing the connection string
            log.error("telemetry stays off: %s", error)
            wanted = "off"
        _mode = wanted
        return wanted


def _azure(environ: Mapping[str, str]) -> None:
    """The Azure Monitor distro: traces, metrics and the `roster` loggers' records to
    Application Insights (Entra authentication from APPLICATIONINSIGHTS_AUTHENTICATION_STRING)."""
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(
        connection_string=environ[CONNECTION],
        logger_name=SCOPE,
        instrumentation_options={name: {"enabled": False} for name in AUTOMATIC},
    )
    _install(trace.get_tracer_provider(), metrics.get_meter_provider())


def _console() -> None:
    """Spans and metrics printed to stderr by the SDK's console exporters (local use)."""
    import sys

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    resource = Resource.create({"service.name": "roster"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    reader = PeriodicExportingMetricReader(ConsoleMetricExporter(out=sys.stderr))
    _install(tracer_provider, MeterProvider(resource=resource, metric_readers=[reader]))


def _install(tracer_provider: Any, meter_provider: Any) -> None:
    global _on
    _on = _Instruments.of(tracer_provider, meter_provider)


def install(tracer_provider: Any, meter_provider: Any) -> None:
    """Send Roster's spans and metrics to these providers (tests: in-memory exporters),
    without touching OpenTelemetry's global providers."""
    global _mode
    with _lock:
        _install(tracer_provider, meter_provider)
        _mode = "installed"


def uninstall() -> None:
    """Telemetry off again (tests)."""
    global _on, _mode
    with _lock:
        _on, _mode = None, "off"


def enabled() -> bool:
    return _on is not None


# -- privacy --------------------------------------------------------------------------------


def safe_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Only the allowed attributes with a value (ALLOWED: pseudonymous ids, names of routes,
    queues and targets, outcomes)."""
    return {k: v for k, v in attributes.items() if k in ALLOWED and v is not None}


# -- trace context in messages --------------------------------------------------------------


def carrier() -> dict[str, str]:
    """The current span's trace context as a message's application properties; empty when
    telemetry is off or no span is current."""
    if _on is None:
        return {}
    found: dict[str, str] = {}
    _propagator.inject(found)
    if TRACEPARENT in found:
        found[DIAGNOSTIC_ID] = found[TRACEPARENT]
    return found


def carried(properties: Mapping[Any, Any] | None) -> dict[str, str]:
    """The trace-context entries of a message's application properties, as text (the SDK
    gives bytes keys and values; `Diagnostic-Id` alone stands in for `traceparent`)."""
    found: dict[str, str] = {}
    for key, value in (properties or {}).items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        if name in CARRIED and value is not None:
            found[name] = value.decode() if isinstance(value, bytes) else str(value)
    if TRACEPARENT not in found and DIAGNOSTIC_ID in found:
        found[TRACEPARENT] = found[DIAGNOSTIC_ID]
    return found


def _parent(properties: Mapping[Any, Any] | None) -> otel_context.Context | None:
    found = carried(properties)
    return _propagator.extract(found) if TRACEPARENT in found else None


# -- spans ----------------------------------------------------------------------------------


class Recorder:
    """What a running span's caller may add: attributes (filtered) and the outcome."""

    def __init__(self, span: Any = None):
        self.span = span
        self.status_code: int | None = None
        self.outcome = "ok"

    def set(self, **attributes: Any) -> None:
        if self.span is not None:
            self.span.set_attributes(safe_attributes({_dotted(k): v for k, v in attributes.items()}))

    def status(self, code: int) -> None:
        self.status_code = code
        if self.span is not None:
            self.span.set_attribute("http.response.status_code", code)
            if code >= 500:
                self.span.set_status(Status(StatusCode.ERROR))


_OFF = Recorder()


def _dotted(name: str) -> str:
    return name if "." in name else f"roster.{name}"


@contextmanager
def serving(function: str, route: str, method: str, headers: Mapping[str, str] | None = None) -> Iterator[Recorder]:
    """The server span of one HTTP call (a caller's `traceparent` header joins its trace) and
    its duration, by route, method and status."""
    if _on is None:
        yield _OFF
        return
    on, started = _on, time.perf_counter()
    parent = _parent({k.lower(): v for k, v in (headers or {}).items()})
    attributes = {"http.request.method": method, "http.route": f"/api/{route}", "roster.function": function}
    with on.tracer.start_as_current_span(f"{method} /api/{route}", context=parent, kind=SpanKind.SERVER,
                                         attributes=attributes) as span:
        recorder = Recorder(span)
        try:
            yield recorder
        finally:
            measured = {**attributes, "http.response.status_code": recorder.status_code or 500}
            del measured["roster.function"]
            on.http_duration.record(time.perf_counter() - started, measured)


@contextmanager
def handling(queue: str, properties: Mapping[Any, Any] | None, *, message_id: str | None,
             delivery_count: int | None, lag: float | None) -> Iterator[Recorder]:
    """The consumer span of one queue message, a child of the span that sent it; the
    message's lag (enqueued or due → handled) and its outcome (`ok`, `parked`, `failed`)."""
    if _on is None:
        yield _OFF
        return
    on = _on
    attributes = safe_attributes({
        "messaging.system": "servicebus", "messaging.operation.type": "process",
        "messaging.destination.name": queue, "messaging.message.id": message_id,
        "messaging.message.delivery_count": delivery_count,
    })
    if lag is not None:
        on.queue_lag.record(max(lag, 0.0), {"messaging.destination.name": queue})

    def done(recorder: Recorder) -> None:
        on.handled.add(1, {"messaging.destination.name": queue, "roster.outcome": recorder.outcome})

    with _watched(on, f"process {queue}", SpanKind.CONSUMER, attributes, done, "failed",
                  _parent(properties)) as recorder:
        yield recorder


@contextmanager
def sending(queue: str, recorded: Mapping[str, str] | None) -> Iterator[dict[str, str] | None]:
    """The producer span of one message, under the trace it was `recorded` in (an outbox row
    relayed later) or else the current one; yields the properties the message carries (None
    when telemetry is off)."""
    if _on is None:
        yield None
        return
    attributes = {"messaging.system": "servicebus", "messaging.operation.type": "send",
                  "messaging.destination.name": queue}
    with _on.tracer.start_as_current_span(f"send {queue}", context=_parent(recorded), kind=SpanKind.PRODUCER,
                                          attributes=attributes):
        yield carrier()


@contextmanager
def connector_call(target: str, connector: str) -> Iterator[Recorder]:
    """The client span of one connector call for one order, its duration by target,
    connector kind and outcome, and an error counted when it did not succeed (`errored`,
    `transient` or an exception)."""
    if _on is None:
        yield _OFF
        return
    on, started = _on, time.perf_counter()
    attributes = {"roster.target": target, "roster.connector": connector}

    def done(recorder: Recorder) -> None:
        measured = {**attributes, "roster.outcome": recorder.outcome}
        if recorder.outcome not in ("executed", "verified"):
            recorder.span.set_status(Status(StatusCode.ERROR))
            on.connector_errors.add(1, measured)
        on.connector_duration.record(time.perf_counter() - started, measured)

    with _watched(on, f"connector {connector}", SpanKind.CLIENT, attributes, done, "exception") as recorder:
        yield recorder


@contextmanager
def _watched(on: _Instruments, name: str, kind: SpanKind, attributes: Mapping[str, Any],
             done: Callable[[Recorder], None], failed: str,
             parent: otel_context.Context | None = None) -> Iterator[Recorder]:
    """A span whose outcome is recorded on it when it ends: the recorder's, or `failed` (with
    the error type) when the block raises; then `done(recorder)` records its metrics."""
    with on.tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes) as span:
        recorder = Recorder(span)
        try:
            yield recorder
        except BaseException as error:
            recorder.outcome = failed
            span.set_attribute("error.type", type(error).__name__)
            raise
        finally:
            span.set_attribute("roster.outcome", recorder.outcome)
            done(recorder)


def span(name: str, carried: Mapping[str, str] | None = None, **attributes: Any) -> Any:
    """An internal span named `name` — in the trace `carried` names (another process's
    `carrier()`), else the current one (a no-op context when telemetry is off)."""
    if _on is None:
        return nullcontext(_OFF)
    return _recording(_on, name, attributes, _parent(carried))


@contextmanager
def _recording(on: _Instruments, name: str, attributes: Mapping[str, Any],
               parent: otel_context.Context | None = None) -> Iterator[Recorder]:
    with on.tracer.start_as_current_span(name, context=parent, attributes=safe_attributes(
            {_dotted(k): v for k, v in attributes.items()})) as current:
        yield Recorder(current)


# -- metrics --------------------------------------------------------------------------------


def order_stored(target: str, state: str, previous: str | None) -> None:
    """Count an order stored in `state` (from `previous`; None: a new order)."""
    if _on is not None and state != previous:
        _on.transitions.add(1, {"roster.target": target, "roster.order.state": state,
                                "roster.order.from_state": previous or "new"})


def lag_of(enqueued_at: datetime | None, scheduled_at: datetime | None, now: datetime) -> float | None:
    """Seconds from when a message could first be handled (enqueued, or due when scheduled)."""
    if enqueued_at is None:
        return None
    start = max(enqueued_at, scheduled_at) if scheduled_at is not None else enqueued_at
    return (now - start).total_seconds()
