"""Roster served by devhost over real HTTP, on a fresh data directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from devhost.host import Host
from shared.bus.local import LocalBus
from shared.clock import TravelClock
from shared.config import Settings
from shared.runtime import Runtime, use_runtime
from shared.store import open_store
from tests.helpers.keys import E2E_KEYS

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running(
    tmp_path: Path, clock: TravelClock | None = None, timezone: str = "UTC", *,
    keys: dict[str, list[str]] = E2E_KEYS, timeout: float = 30, **values: str,
) -> Iterator[tuple[httpx.Client, Host]]:
    """devhost on the real function_app with `keys` and extra setting `values`; with a clock,
    the app and the queue pump share it. Yields (client, host); the client waits `timeout` s."""
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())
    sample["Values"].update(ROSTER_API_KEYS=json.dumps(keys), ROSTER_TIMEZONE=timezone, **values)
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps(sample))
    use_runtime(None)
    host = Host(
        "function_app:app", settings_path=settings, host_json=ROOT / "host.json",
        data_dir=tmp_path / "data", poll_interval=0.02, bus_options={"clock": clock} if clock else None,
    )
    url = host.start()
    if clock is not None:
        env = Settings.from_env()
        use_runtime(Runtime(env, clock=clock, store=open_store(env.store), bus=LocalBus(env.bus_path, clock=clock)))
    try:
        with httpx.Client(base_url=url, timeout=timeout) as client:
            yield client, host
    finally:
        host.stop()
        use_runtime(None)
