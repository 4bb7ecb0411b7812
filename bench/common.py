"""Helpers every benchmark shares: timing, medians, a progress bar, a result table."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()


@contextmanager
def progress(description: str, total: int) -> Iterator[Callable[[], None]]:
    """A progress bar; the yielded function advances it by one."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


@contextmanager
def roster_over_http(roles: list[str]) -> Iterator[httpx.Client]:
    """Roster on devhost in a temporary data directory; a client holding a key with `roles`."""
    from devhost.host import Host

    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        sample = json.loads((root / "local.settings.sample.json").read_text())
        sample["Values"]["ROSTER_API_KEYS"] = json.dumps({"bench": roles})
        settings = Path(tmp) / "local.settings.json"
        settings.write_text(json.dumps(sample))
        host = Host("function_app:app", settings_path=settings, host_json=root / "host.json",
                    data_dir=Path(tmp) / "d")
        url = host.start()
        try:
            with httpx.Client(base_url=url, headers={"Authorization": "Bearer bench"}) as client:
                yield client
        finally:
            host.stop()


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def show(title: str, rows: list[tuple[str, str]]) -> None:
    table = Table(title=title, show_header=True)
    table.add_column("measure")
    table.add_column("result", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
