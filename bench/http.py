"""End to end: POST /api/persons (sync) through devhost over real HTTP."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import httpx

from bench.common import median_ms, progress, show, timed
from bench.registration import update
from devhost.host import Host

ROOT = Path(__file__).resolve().parents[1]


def run(calls: int = 300) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        sample = json.loads((ROOT / "local.settings.sample.json").read_text())
        sample["Values"]["ROSTER_API_KEYS"] = json.dumps({"bench": ["Persons.Write"]})
        settings = Path(tmp) / "local.settings.json"
        settings.write_text(json.dumps(sample))
        host = Host("function_app:app", settings_path=settings, host_json=ROOT / "host.json", data_dir=Path(tmp) / "d")
        url = host.start()
        samples = []
        try:
            with httpx.Client(base_url=url, headers={"Authorization": "Bearer bench"}) as client, \
                    progress(f"{calls} sync registrations over HTTP", calls) as step:
                for n in range(calls):
                    body = update(n).model_dump(mode="json", exclude_none=True)
                    samples.append(timed(lambda: client.post("/api/persons", json=body).raise_for_status()))
                    step()
        finally:
            host.stop()
    figures = {"post_persons_sync_ms": median_ms(samples)}
    show("HTTP through devhost", [("POST /api/persons (sync, new person), median", f"{figures['post_persons_sync_ms']:.2f} ms")])
    return figures
