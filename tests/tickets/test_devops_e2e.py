"""The request desk's seed scenario through devhost with the Azure DevOps mirror on: the
client submits, the desk triages, comments, works a task, completes and closes — and Boards
follows every step, while a move made in Boards comes back through the service hook."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from devhost.host import Host
from shared.runtime import use_runtime
from tests.tickets.devops_standin import PAT, PROJECT, serve
from tests.tickets.mirror_steps import form

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"flow-key": ["Requests.Submit"], "desk-key": ["Requests.Manage"], "admin-key": ["Admin"]}
SECRET = "e2e-hook-secret"
DESK = {"Authorization": "Bearer desk-key"}


@pytest.fixture
def desk(tmp_path):
    devops, server = serve()
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())
    sample["Values"].update(
        ROSTER_API_KEYS=json.dumps(KEYS), ROSTER_TICKETS="azure_devops", ROSTER_DEVOPS_URL=f"{devops.url}/org",
        ROSTER_DEVOPS_PROJECT=PROJECT, ROSTER_DEVOPS_AUTH="pat", ROSTER_DEVOPS_PAT=PAT,
        ROSTER_DEVOPS_HOOK_SECRET=SECRET, ROSTER_ALLOW_LOOPBACK="true",
        ROSTER_DEVOPS_IDENTITIES=json.dumps({"holly@example.edu": {"id": "id-holly", "name": "Holly"}}))
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps(sample))
    use_runtime(None)
    host = Host("function_app:app", settings_path=settings, host_json=ROOT / "host.json", data_dir=tmp_path / "data",
                poll_interval=0.02)
    url = host.start()
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client, host, devops
    finally:
        host.stop()
        use_runtime(None)
        server.shutdown()
        server.server_close()
    assert devops.problems == [], devops.problems


def test_the_seed_scenario_runs_with_boards_in_step_both_ways(desk):
    client, host, devops = desk
    admin = {"Authorization": "Bearer admin-key"}
    assert client.post("/api/targets", headers=admin, json={"id": "wiki", "name": "Team wiki", "connector": "manual",
                                                            "on_remove": "disable"}).status_code == 201
    receipt = client.post("/api/requests", json=form(), headers={"Authorization": "Bearer flow-key"})
    assert receipt.status_code == 201
    number = receipt.json()["number"]
    host.drain(timeout=20)
    [item] = devops.items.values()
    assert item["fields"]["System.Title"] == f"{number} · invite · Team wiki"

    # The desk works in Roster ...
    assert client.patch(f"/api/requests/{number}", json={"state": "InPlanning", "owner": "holly@example.edu"},
                        headers=DESK).status_code == 200
    assert client.post(f"/api/requests/{number}/comments", json={"text": "@holly@example.edu please invite Alan"},
                       headers=DESK).status_code == 201
    task = client.post(f"/api/requests/{number}/tasks", json={"title": "Invite Alan"}, headers=DESK).json()
    host.drain(timeout=20)
    assert item["fields"]["System.State"] == "In Planning"
    assert "data-vss-mention=\"version:2.0,id-holly\"" in devops.comments[item["id"]][0]
    [child] = [i for i in devops.items.values() if i["fields"]["System.WorkItemType"] == "Task"]
    assert item["relations"][0]["rel"] == "System.LinkTypes.Hierarchy-Forward"

    # ... and moves the work item in Boards: the hook brings it back
    devops.bump(item["id"], **{"System.State": "Doing"})
    hook = {"id": "evt-1", "eventType": "workitem.updated",
            "resource": {"workItemId": item["id"], "revisedBy": {"displayName": "Holly"},
                         "fields": {"System.State": {"oldValue": "In Planning", "newValue": "Doing"}}}}
    auth = {"Authorization": "Basic " + base64.b64encode(f"hooks:{SECRET}".encode()).decode()}
    assert client.post("/api/devops/hooks", json=hook, headers=auth).json()["outcome"] == "applied"
    assert client.get(f"/api/requests/{number}", headers=DESK).json()["state"] == "InProgress"
    assert client.post("/api/devops/hooks", json=hook, headers=auth).json() == {"outcome": "duplicate"}

    assert client.post(f"/api/requests/{number}/tasks/{task['id']}/complete", headers=DESK).status_code == 200
    assert client.patch(f"/api/requests/{number}", json={"state": "Done"}, headers=DESK).status_code == 200
    assert client.patch(f"/api/requests/{number}", json={"state": "Closed"}, headers=DESK).status_code == 200
    host.drain(timeout=20)
    assert (child["fields"]["System.State"], item["fields"]["System.State"]) == ("Done", "Closed")
    assert len(devops.items) == 2
    outbox = client.get("/api/outbox", headers=admin).json()["items"]
    closed = [e for e in outbox if e["subject"] == f"{number}: your request has been completed"]
    assert closed and f"Azure DevOps: #{item['id']}" in closed[0]["text"]
