"""What telemetry costs (docs/telemetry.md): a consumer span with the producer span of the
message it sends, off and on; and a registration with its relayed event, off and on.

"On" is the OpenTelemetry SDK with a batch span processor whose exporter drops what it gets
and an in-memory metric reader: the SDK's own work, without a network. Rounds alternate off
and on so a noisy machine weighs on both; medians are quoted. ROSTER_BENCH_TELEMETRY scales
the registrations per round (default 500).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from bench.common import show
from bench.registration import update
from shared import telemetry
from shared.bus.local import LocalBus
from shared.clock import SystemClock
from shared.config import Settings
from shared.runtime import Runtime
from shared.services.registration import register
from shared.store.sqlite import SqliteStore

ROUNDS = 3
HOPS = 20_000


class Dropped(SpanExporter):
    """An exporter that accepts every span and sends nothing."""

    def export(self, spans):
        return SpanExportResult.SUCCESS


def turn(on: bool) -> None:
    telemetry.uninstall()
    if on:
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(BatchSpanProcessor(Dropped()))
        telemetry.install(tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()]))


def hop_us(count: int = HOPS) -> float:
    """Microseconds per message: its consumer span and the producer span of what it sends."""
    start = time.perf_counter()
    for _ in range(count):
        with telemetry.handling("person-changed", {}, message_id="m", delivery_count=1, lag=0.0), \
                telemetry.sending("group-update", None):
            pass
    return (time.perf_counter() - start) / count * 1e6


def registrations_per_second(rt: Runtime, first: int, count: int) -> float:
    start = time.perf_counter()
    for n in range(first, first + count):
        register(rt, update(n), "bench")
    return count / (time.perf_counter() - start)


def run(per_round: int | None = None) -> dict:
    per_round = per_round or int(os.environ.get("ROSTER_BENCH_TELEMETRY", "500"))
    samples: dict[str, list[float]] = {"off_hop_us": [], "on_hop_us": [], "off_reg_s": [], "on_reg_s": []}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({"ROSTER_STORE": f"sqlite:///{tmp}/r.db", "ROSTER_BUS_PATH": f"{tmp}/b.db"})
        clock = SystemClock()
        rt = Runtime(settings, clock=clock, store=SqliteStore(f"{tmp}/r.db"), bus=LocalBus(f"{tmp}/b.db", clock=clock))
        try:
            first = 0
            for _ in range(ROUNDS):
                for mode in ("off", "on"):
                    turn(mode == "on")
                    samples[f"{mode}_hop_us"].append(hop_us())
                    samples[f"{mode}_reg_s"].append(registrations_per_second(rt, first, per_round))
                    first += per_round
        finally:
            telemetry.uninstall()
            rt.close()
    figures = {name: round(statistics.median(values), 2) for name, values in samples.items()}
    figures["on_over_off_registrations"] = round(figures["on_reg_s"] / figures["off_reg_s"], 3)
    show("telemetry: off vs on (medians)", [
        ("µs per message hop (consumer + producer span), off", str(figures["off_hop_us"])),
        ("µs per message hop, on", str(figures["on_hop_us"])),
        (f"registrations/s with their event, off ({per_round} per round)", str(figures["off_reg_s"])),
        ("registrations/s, on", str(figures["on_reg_s"])),
        ("on / off", str(figures["on_over_off_registrations"])),
    ])
    return figures


if __name__ == "__main__":
    run()
