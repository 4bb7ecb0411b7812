"""A sample settings file in a temporary directory and a devhost running the sample app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost import Host

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.devhost.sample_app:app"
QUEUE = "sample-q"


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
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def make_host(directory: Path, **options: object) -> Host:
    write_sample(directory)
    return Host(
        APP,
        settings_path=directory / "local.settings.json",
        host_json=ROOT / "host.json",
        data_dir=directory / "data",
        poll_interval=0.02,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    """A started host whose bus dead-letters after three deliveries."""
    h = make_host(tmp_path, bus_options={"max_delivery_count": 3})
    h.start()
    yield h
    h.stop()


@pytest.fixture(scope="module")
def http_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    h = make_host(tmp_path_factory.mktemp("devhost-http"))
    h.start()
    yield h
    h.stop()
