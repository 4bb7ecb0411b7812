"""The devhost suite's sample: a settings file in a directory and a Host serving the sample app."""

from __future__ import annotations

import json
from pathlib import Path

from devhost import Host

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.devhost.sample_app:app"
QUEUE = "sample-q"
BATCH_QUEUE = "sample-batch-q"  # on_sample_batch runs only where a test sets SampleBatchQueue


def write_sample(directory: Path, **extra: str) -> Path:
    """A minimal local.settings.sample.json in `directory` (records go beside it)."""
    values = {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "SampleQueue": QUEUE,
        "SAMPLE_RECORD": str(directory / "messages.jsonl"),
        "SAMPLE_TICKS": str(directory / "ticks.jsonl"),

        "SAMPLE_GREETING": "from the settings file",
        "ROSTER_STORE": "sqlite:///somewhere/else.db",
        "ROSTER_BUS": "local",
        "ROSTER_BUS_PATH": "somewhere/else.db",
        **extra,
    }
    directory.mkdir(parents=True, exist_ok=True)
    sample = directory / "local.settings.sample.json"
    sample.write_text(json.dumps({"IsEncrypted": False, "Values": values}), encoding="utf-8")
    return sample


def records(path: Path) -> list[dict]:
    """The JSON lines the sample app recorded at `path`."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def make_host(directory: Path, **options: object) -> Host:
    """A Host (not started) on the sample app with its data in `directory`."""
    write_sample(directory)
    return Host(
        APP,
        settings_path=directory / "local.settings.json",
        host_json=ROOT / "host.json",
        data_dir=directory / "data",
        poll_interval=0.02,
        **options,  # type: ignore[arg-type]
    )
