"""`python -m cli import` against devhost: a 10,000-row CSV with its progress bar, results,
dry run, mappings, and an import started again."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from rich.console import Console

from cli.__main__ import main
from tests.cli.export_files import write_csv

HR = {"Authorization": "Bearer hr-key"}


def run_cli(argv: list[str], url: str, key: str = "hr-key") -> tuple[int, str]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    code = main(["--url", url, "--key", key, *argv], console=console)
    return code, out.getvalue()


def test_a_10000_row_csv_loads_with_a_progress_bar_and_a_results_file(roster, tmp_path: Path):
    client, _ = roster
    export = write_csv(tmp_path / "hr.csv", persons=5000, affiliations=2)
    results = tmp_path / "results.csv"
    code, output = run_cli(["import", str(export), "--source", "hr", "--results", str(results)], str(client.base_url))
    assert code == 0, output[-2000:]
    assert "5000/5000" in output and "records/s" in output and "errors 0" in output
    rows = list(csv.DictReader(results.open()))
    assert len(rows) == 5000 and {r["outcome"] for r in rows} == {"created"}
    person = client.get("/api/persons", params={"source": "hr", "source_id": "E04999"}, headers=HR).json()["items"][0]
    assert sorted(a["key"] for a in person["affiliations"]) == ["job-0", "job-1"]


def test_an_import_started_again_doubles_nothing(roster, tmp_path: Path):
    client, _ = roster
    export = write_csv(tmp_path / "hr.csv", persons=40)
    half = tmp_path / "half.csv"
    half.write_text("".join(export.read_text().splitlines(keepends=True)[:41]))
    assert run_cli(["import", str(half), "--source", "hr"], str(client.base_url))[0] == 0
    results = tmp_path / "results.csv"
    code, _ = run_cli(["import", str(export), "--source", "hr", "--results", str(results)], str(client.base_url))
    outcomes = [r["outcome"] for r in csv.DictReader(results.open())]
    assert code == 0 and outcomes[:20] == ["unchanged"] * 20 and outcomes[20:] == ["created"] * 20


def test_a_dry_run_reports_joiners_and_writes_nothing(roster, tmp_path: Path):
    client, _ = roster
    code, output = run_cli(["import", str(write_csv(tmp_path / "hr.csv", persons=3)), "--source", "hr", "--dry-run"],
                           str(client.base_url))
    assert code == 0 and "joiners" in output and "created" in output
    assert client.get("/api/persons", params={"source": "hr", "source_id": "E00000"}, headers=HR).json()["items"] == []


def test_a_mapping_renames_an_hr_systems_columns(roster, tmp_path: Path):
    client, _ = roster
    theirs = ("EmployeeNumber", "FirstName", "LastName", "Mail", "DOB", "PositionId", "Kind", "Dept", "JobTitle",
              "From", "To")
    export = write_csv(tmp_path / "hr.csv", persons=2, columns=theirs)
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps(dict(zip(theirs, ("source_id", "given", "family", "email", "birth_date",
                                                    "affiliation_key", "type", "organization", "title", "start",
                                                    "end"), strict=True))))
    code, output = run_cli(["import", str(export), "--source", "hr", "--mapping", str(mapping)], str(client.base_url))
    assert code == 0, output
    person = client.get("/api/persons", params={"source": "hr", "source_id": "E00001"}, headers=HR).json()["items"][0]
    assert (person["names"]["given"], person["names"]["family"]) == ("Given1", "Family1")


def test_one_bad_row_fails_alone_and_the_exit_code_says_so(roster, tmp_path: Path):
    client, _ = roster
    export = write_csv(tmp_path / "hr.csv", persons=3, affiliations=1)
    lines = export.read_text().splitlines()
    lines[2] = lines[2].replace("2024-01-01", "someday")
    export.write_text("\n".join(lines) + "\n")
    results = tmp_path / "results.csv"
    code, _ = run_cli(["import", str(export), "--source", "hr", "--results", str(results)], str(client.base_url))
    rows = list(csv.DictReader(results.open()))
    assert code == 1 and [r["outcome"] for r in rows] == ["created", "failed", "created"]
    assert rows[1]["error"].startswith("affiliations[0].start:")


def test_the_worklist_exports_every_waiting_order_of_a_target_as_csv(roster, tmp_path: Path):
    client, host = roster
    admin = {"Authorization": "Bearer admin-key"}
    assert client.post("/api/targets", headers=admin, json={
        "id": "wiki", "name": "Wiki", "connector": "manual", "on_remove": "disable"}).status_code == 201
    assert client.post("/api/groups", headers=admin, json={
        "id": "fin", "name": "Finance", "kind": "dynamic",
        "rule": 'person.affiliations -any (affiliation.organization -eq "FIN")'}).status_code == 201
    assert client.post("/api/targets/wiki/policies", headers=admin,
                       json={"group_id": "fin", "entitlement": "account"}).status_code == 201
    host.drain(timeout=20)
    assert run_cli(["import", str(write_csv(tmp_path / "hr.csv", persons=7)), "--source", "hr"],
                   str(client.base_url))[0] == 0
    out = tmp_path / "worklist.csv"
    code, output = run_cli(["worklist", "export", "wiki", "--out", str(out)], str(client.base_url), key="admin-key")
    rows = list(csv.DictReader(out.open()))
    assert code == 0 and "7 orders on the worklist of wiki" in output
    assert len(rows) == 7 and {(r["action"], r["state"]) for r in rows} == {("create_account", "Transmitted")}


def test_status_prints_the_chains_operations_view(roster):
    client, _ = roster
    code, output = run_cli(["status"], str(client.base_url), key="admin-key")
    assert code == 0 and '"queues"' in output and "person-update" in output
    refused, message = run_cli(["status"], str(client.base_url), key="hr-key")
    assert refused == 2 and "HTTP 403" in message
