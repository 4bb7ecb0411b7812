"""A Service Bus trigger with `cardinality=many`, pumped by devhost as the Functions host
runs it: a list of one session's messages, at most host.json's maxMessageBatchSize, settled
together."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devhost import Host
from devhost.host import read_batch_size
from shared.bus.local import LocalBus
from tests.devhost.hosts import APP, BATCH_QUEUE, records, write_sample

ROOT = Path(__file__).resolve().parents[2]


def host_json(directory: Path, batch: int) -> Path:
    document = json.loads((ROOT / "host.json").read_text())
    document["extensions"]["serviceBus"]["maxMessageBatchSize"] = batch
    path = directory / "host.json"
    path.write_text(json.dumps(document))
    return path


def sample(directory: Path) -> None:
    write_sample(directory, SampleBatchQueue=BATCH_QUEUE, SAMPLE_BATCHES=str(directory / "batches.jsonl"))


def batches(directory: Path) -> list[dict]:
    return records(directory / "batches.jsonl")


def pumped(tmp_path: Path, config: Path, messages: list[tuple[bytes, str, str]]) -> int:
    """Devhost on the sample app with `config` as host.json pumps `messages` (body, id,
    session) until drained; returns what is left on the queue."""
    sample(tmp_path)
    host = Host(APP, settings_path=tmp_path / "local.settings.json", host_json=config,
                data_dir=tmp_path / "data", poll_interval=0.02)
    host.prepare()
    bus = LocalBus(host.bus_path)
    for body, message_id, session in messages:
        bus.publish(BATCH_QUEUE, body, message_id, session_id=session)
    host.start()
    try:
        host.drain(timeout=10)
    finally:
        host.stop()
    left = bus.active_count(BATCH_QUEUE)
    bus.close()
    return left


def test_a_batch_trigger_gets_one_sessions_messages_in_lists_of_at_most_the_batch_size(tmp_path):
    messages = [(b"{}", f"a{n}", "s-a") for n in range(3)] + [(b"{}", "b0", "s-b")]

    left = pumped(tmp_path, host_json(tmp_path, 2), messages)

    seen = batches(tmp_path)
    assert sorted(b["ids"] for b in seen) == [["a0", "a1"], ["a2"], ["b0"]]
    assert all(len(set(b["sessions"])) == 1 for b in seen)
    assert left == 0


def test_a_failed_batch_is_abandoned_whole_and_delivered_again(tmp_path):
    left = pumped(tmp_path, ROOT / "host.json", [(b"fine", "m-fine", "s-1"), (b"boom", "m-boom", "s-1")])

    assert [(b["ids"], b["deliveries"]) for b in batches(tmp_path)] == [
        (["m-fine", "m-boom"], [1, 1]), (["m-fine", "m-boom"], [2, 2])]
    assert left == 0


@pytest.mark.parametrize(("value", "size"), [(None, 1000), (250, 250)])
def test_the_batch_size_is_read_from_host_json(tmp_path, value, size):
    document = {"version": "2.0", "extensions": {"serviceBus": {}}}
    if value is not None:
        document["extensions"]["serviceBus"]["maxMessageBatchSize"] = value
    (tmp_path / "host.json").write_text(json.dumps(document))

    assert read_batch_size(tmp_path / "host.json") == size


def test_a_batch_size_that_is_not_a_positive_whole_number_is_refused(tmp_path):
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"serviceBus": {"maxMessageBatchSize": 0}}}))

    with pytest.raises(ValueError, match="maxMessageBatchSize"):
        read_batch_size(tmp_path / "host.json")


def test_the_projects_host_json_batches_the_provisioning_orders():
    assert read_batch_size(ROOT / "host.json") == 250
