"""The command-line client without a server: refused export files send nothing, and busy
answers are retried after the wait Roster asks for."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
from rich.console import Console

from cli import commands
from cli.__main__ import main
from cli.client import Api
from tests.cli.export_files import write_csv

HR = {"Authorization": "Bearer hr-key"}


def test_refused_files_say_what_to_fix_and_send_nothing(tmp_path: Path):
    calls = []
    api = Api("http://roster.invalid", "k", transport=httpx.MockTransport(lambda r: calls.append(r)))
    cases = {
        "missing required columns: family": write_csv(tmp_path / "a.csv", 1, columns=(
            "source_id", "given", "email", "birth_date", "affiliation_key", "type", "organization", "title", "start",
            "end")),
        "unknown columns: Department — rename them with --mapping": write_csv(tmp_path / "b.csv", 1, columns=(
            "source_id", "given", "family", "email", "birth_date", "affiliation_key", "type", "Department", "title",
            "start", "end")),
    }
    nan = tmp_path / "c.ndjson"
    nan.write_text('{"source_id": "e1"}\n{"source_id": "e2", "attributes": {"fte": NaN}}\n')
    cases["c.ndjson, line 2: not valid JSON: NaN is not a JSON number"] = nan
    for expected, path in cases.items():
        out = io.StringIO()
        assert main(["--key", "k", "import", str(path), "--source", "hr"], Console(file=out, width=200), api) == 2
        assert expected in out.getvalue()
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"Dept": "organization"}))
    out = io.StringIO()
    code = main(["--key", "k", "import", str(cases[next(iter(cases))]), "--source", "hr", "--mapping", str(mapping)],
                Console(file=out, width=200), api)
    assert code == 2 and "the mapping names columns the file does not have: Dept" in out.getvalue()
    assert calls == []


def test_busy_answers_are_retried_after_the_wait_roster_asks_for():
    answers = iter([httpx.Response(429, headers={"Retry-After": "2"}, json={"detail": "slow down"}),
                    httpx.Response(503, json={"detail": "busy"}),
                    httpx.Response(200, json={"items": [], "summary": {}})])
    waits: list[float] = []
    api = Api("http://roster.invalid", "k", sleep=waits.append, transport=httpx.MockTransport(lambda r: next(answers)))
    assert api.call("POST", "/api/persons/bulk", json=[]) == {"items": [], "summary": {}}
    assert waits == [2.0, 1.0]


def test_records_go_in_order_in_batches_of_the_size_asked_or_under_the_byte_budget(monkeypatch):
    records = [{"source_id": f"e{n}", "given": "Zoë"} for n in range(5)]
    sent = list(commands.batches(records, 2))
    assert [count for count, _ in sent] == [2, 2, 1]
    assert [r for _, body in sent for r in json.loads(body)] == records  # each body a JSON array, in order
    assert "Zoë".encode() in sent[0][1]  # not escaped: its bytes are what the budget counts

    one = len(json.dumps(records[0], ensure_ascii=False, separators=(",", ":")).encode())
    monkeypatch.setattr(commands, "BATCH_BYTES", 2 * one + 1)
    assert [count for count, _ in commands.batches(records, 1000)] == [2, 2, 1]
