"""Roster's telemetry recorded in memory: the SDK's InMemorySpanExporter, InMemoryMetricReader
and InMemoryLogRecordExporter (the `roster` loggers), installed for one test and removed after."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import telemetry


@dataclass
class Recorded:
    spans_exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    logs_exporter: InMemoryLogRecordExporter

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == name]

    def points(self, metric: str) -> list[Any]:
        """The data points of `metric` collected now (every attribute set)."""
        data = self.reader.get_metrics_data()
        return [point for rm in (data.resource_metrics if data else []) for sm in rm.scope_metrics
                for m in sm.metrics if m.name == metric for point in m.data.data_points]

    def total(self, metric: str, **attributes: str) -> float:
        """The sum of a counter's points whose attributes include `attributes`."""
        return sum(p.value for p in self.points(metric) if attributes.items() <= dict(p.attributes).items())

    def logs(self) -> list[Any]:
        return [record.log_record for record in self.logs_exporter.get_finished_logs()]

    def every_text(self) -> list[str]:
        """Every name, attribute key and value, event, link and log body exported: what the
        privacy scan looks through."""
        texts: list[str] = []
        for span in self.spans():
            texts += [span.name, *map(str, span.attributes.items()), str(span.status.description or "")]
            texts += [str(e.attributes) + e.name for e in span.events]
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    texts += [metric.name] + [str(dict(p.attributes)) for p in metric.data.data_points]
        for log in self.logs():
            texts += [str(log.body), str(dict(log.attributes or {}))]
        return texts


@contextmanager
def recording() -> Iterator[Recorded]:
    """Roster's spans, metrics and `roster` log records kept in memory for the test."""
    spans, reader, logs = InMemorySpanExporter(), InMemoryMetricReader(), InMemoryLogRecordExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[reader])
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    handler = LoggingHandler(logger_provider=logger_provider)
    logger = logging.getLogger("roster")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # the scan sees info records too
    telemetry.install(tracer_provider, meter_provider)
    try:
        yield Recorded(spans, reader, logs)
    finally:
        telemetry.uninstall()
        logger.removeHandler(handler)
        logger.setLevel(level)
        for provider in (tracer_provider, meter_provider, logger_provider):
            provider.shutdown()
