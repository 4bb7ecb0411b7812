"""Item 10 of issue 11: the OpenAPI document is the truth. Every status and content type an
operation can answer is described, and a bounded schemathesis run against devhost (real HTTP,
the real function_app) finds 0 server errors and 0 responses that break the description."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx

from devhost.host import Host
from functions.http import ROUTES
from functions.openapi import statuses
from shared.models.group import GroupView
from shared.models.provisioning import TargetView
from tests.factories import hr_update
from tests.hardening.calls import call, functions, payload

ROOT = Path(__file__).resolve().parents[2]
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
EXAMPLES = 5  # per operation: 68 operations → a few hundred requests, seconds on this machine
SEED = 11


def test_the_two_reads_that_broke_their_schema_now_match_it(rt):
    call("targets_create", "POST", body={"id": "wiki", "name": "Wiki"})
    call("groups_create", "POST", body={"id": "fin", "name": "Finance", "kind": "dynamic",
                                        "rule": 'person.status -eq "active"'})

    target = payload(call("targets_get", route={"id": "wiki"}))
    group = payload(call("groups_get", route={"id": "fin"}))

    assert TargetView.model_validate(target).policies == []
    assert GroupView.model_validate(group).reevaluation is not None


def test_every_operation_describes_what_the_plumbing_can_answer():
    functions()
    for info in ROUTES:
        described = statuses(info)
        page = info.media != "application/json"
        if not info.public:
            assert (303 if page else 401) in described and 403 in described, info.name
        if "{" in info.route:
            assert 404 in described, info.name
        if info.body:
            assert {400, 413, 422} <= set(described), info.name
        if info.query:
            assert 422 in described, info.name


def test_console_pages_are_described_as_html(rt):
    document = payload(call("ops_openapi"))
    persons = document["paths"]["/api/console/persons"]["get"]["responses"]
    assert list(persons["200"]["content"]) == ["text/html"]
    assert "content" not in persons["303"]
    css = document["paths"]["/api/console/static/console.css"]["get"]["responses"]
    assert list(css["200"]["content"]) == ["text/css"]


def _devhost(tmp_path: Path) -> Host:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())
    sample["Values"]["ROSTER_API_KEYS"] = json.dumps({"fuzz-admin-key": ["Admin"]})
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps(sample))
    return Host("function_app:app", settings_path=settings, host_json=ROOT / "host.json",
                data_dir=tmp_path / "data", poll_interval=0.05)


def _seed(client: httpx.Client) -> dict[str, list[str]]:
    """Real things for the fuzzer to find: a person, a dynamic group, a manual target with a
    policy (so an order), a request with a task. Returns the ids per path parameter."""
    client.post("/api/groups", json={"id": "fin", "name": "Finance", "kind": "dynamic",
                                     "rule": 'person.affiliations -any (affiliation.organization -eq "FIN")'})
    client.post("/api/targets", json={"id": "wiki", "name": "Wiki", "connector": "manual"})
    client.post("/api/targets/wiki/policies", json={"group_id": "fin", "entitlement": "account"})
    person = client.post("/api/persons", json=hr_update(as_of="2026-01-01T00:00:00+00:00")).json()["person"]["id"]
    orders = [o["id"] for o in client.get("/api/orders", params={"person": person}).json()["items"]]
    number = client.post("/api/requests", json={
        "version": 1, "form_response_id": "F-1", "submitted_at": "2026-01-01T00:00:00+00:00",
        "requester": {"email": "grace@example.edu", "name": "Grace"}, "service": "wiki", "category": "other",
        "details": "x", "accounts": []}).json()["number"]
    task = client.post(f"/api/requests/{number}/tasks", json={"title": "Check"}).json()
    task_ids = [t["id"] for t in task.get("tasks", [])] or [task.get("id", "t-1")]
    return {"id": ["fin", "wiki", person, *orders, *task_ids], "number": [number], "person_id": [person],
            "source": ["hr"]}


def _config(path: Path, ids: dict[str, list[str]]) -> Path:
    """schemathesis.toml: half the path parameters are real ids, half are generated."""
    lines = []
    for name, values in ids.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}' for name in ids]
    config = path / "schemathesis.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def test_a_bounded_schemathesis_run_finds_no_server_error_and_no_schema_violation(tmp_path):
    from shared.runtime import use_runtime

    use_runtime(None)
    host = _devhost(tmp_path)
    url = host.start()
    try:
        with httpx.Client(base_url=url, headers={"Authorization": "Bearer fuzz-admin-key"}, timeout=30) as client:
            config = _config(tmp_path, _seed(client))
        run = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
             f"{url}/api/openapi.json", "-H", "Authorization: Bearer fuzz-admin-key", "--phases", "fuzzing",
             "-n", str(EXAMPLES), "--seed", str(SEED), "-w", "1", "--checks", CHECKS,
             "--generation-database", "none", "--no-color", "--request-timeout", "20"],
            capture_output=True, text=True, timeout=240, cwd=tmp_path,
        )
    finally:
        host.stop()
        use_runtime(None)
    summary = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert run.returncode == 0 and summary, run.stdout[-6000:]
    generated = int(summary.group(1))
    assert generated == int(summary.group(2))
    assert 200 <= generated <= 1000  # bounded: a few hundred requests
    print(f"schemathesis: {generated} requests, all conforming")
