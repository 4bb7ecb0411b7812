"""The seed scenario over HTTP through devhost: a form response arrives from Power Automate,
the desk triages and works it, and every email that leaves is checked in the outbox."""

from __future__ import annotations

from shared.models.provisioning import Target
from shared.runtime import runtime
from shared.store.targets import TargetRepository
from tests.helpers.desk import STAFF, form
from tests.helpers.keys import auth

CLIENT = "grace.hopper@example.edu"
OWNER = "margaret.hamilton@example.edu"
ENGINEER = "linus@example.edu"
LINK = "https://roster.example.edu/api/console/requests/REQ-000001"


def test_a_request_from_form_to_closed_keeps_everyone_informed(desk):
    client, host, teams = desk
    TargetRepository(runtime().store).save(Target(id="wiki", name="Team wiki"))
    flow, staff = auth("flow-key"), auth("desk-key")
    base = "/api/requests/REQ-000001"

    # Power Automate posts the form response, then retries it (a 408 on its side).
    submitted = client.post("/api/requests", json=form(), headers=flow)
    assert submitted.status_code == 201
    assert submitted.json()["number"] == "REQ-000001" and submitted.json()["link"] == LINK
    retried = client.post("/api/requests", json=form(), headers=flow)
    assert retried.status_code == 200 and retried.json() == submitted.json()
    host.drain(timeout=20)
    [post] = teams.posts
    assert post["path"] == "/teams" and "REQ-000001" in str(post["json"])

    # Triage: planning, with an owner; a question to the client; a task for an engineer.
    planned = client.patch(base, json={"state": "InPlanning", "owner": OWNER}, headers=staff)
    assert planned.status_code == 200 and planned.json()["state"] == "InPlanning"
    text = f"@{CLIENT} do both start on Monday? @{ENGINEER} please prepare."
    assert client.post(f"{base}/comments", json={"text": text}, headers=staff).status_code == 201
    task = client.post(f"{base}/tasks", json={"title": "Invite both to the wiki", "assignee": ENGINEER},
                       headers=staff)  # fmt: skip
    assert task.status_code == 201
    task_id = task.json()["id"]
    assert client.patch(base, json={"state": "InProgress"}, headers=staff).status_code == 200
    early = client.patch(base, json={"state": "Done"}, headers=staff)
    assert early.status_code == 409 and "“Invite both to the wiki”" in early.json()["detail"]

    completed = client.post(f"{base}/tasks/{task_id}/complete", headers=staff)
    assert completed.status_code == 200 and completed.json()["state"] == "Completed"
    assert client.patch(base, json={"state": "Done"}, headers=staff).status_code == 200
    closed = client.patch(base, json={"state": "Closed", "note": "Both accounts are active."}, headers=staff)
    assert closed.status_code == 200 and closed.json()["state"] == "Closed"
    assert client.patch(base, json={"state": "InProgress"}, headers=staff).status_code == 409
    host.drain(timeout=20)

    outbox = client.get("/api/outbox", headers=auth("admin-key"))
    assert outbox.status_code == 200
    emails = outbox.json()["items"]
    assert sorted((e["to"], e["cc"], e["subject"]) for e in emails) == sorted([
        ([CLIENT], [], "REQ-000001: we have received your request"),
        ([STAFF], [], "REQ-000001: new invite request for wiki"),
        ([CLIENT], [OWNER], "REQ-000001: your request is being planned"),
        ([OWNER], [], "REQ-000001: you are the owner of this request"),
        ([CLIENT], [], "REQ-000001: you were mentioned in a comment"),
        ([ENGINEER], [], "REQ-000001: you were mentioned in a comment"),
        ([ENGINEER], [], "REQ-000001: a task has been assigned to you"),
        ([CLIENT], [OWNER], "REQ-000001: work on your request has been completed"),
        ([CLIENT], [OWNER], "REQ-000001: your request has been completed"),
    ])  # fmt: skip
    mine = submitted.json()["requester_link"]
    assert mine.startswith("https://roster.example.edu/api/track/REQ-000001/")
    for email in emails:
        assert email["from"] == "roster@example.edu"
        link = mine if email["to"] == [CLIENT] else LINK  # the client never gets the staff console
        for body in (email["text"], email["html"]):
            assert "REQ-000001" in body and link in body, email["subject"]
        assert f'href="{link}"' in email["html"]

    by_subject = {e["subject"]: e for e in emails}
    assert by_subject["REQ-000001: new invite request for wiki"]["reply_to"] == CLIENT
    completion = by_subject["REQ-000001: work on your request has been completed"]
    assert "Accounts added:\n- Alan Turing <alan.turing@example.edu>\n- Ada Lovelace <ada.lovelace@example.edu>" in completion["text"]
    assert "Both accounts are active." in by_subject["REQ-000001: your request has been completed"]["text"]

    history = client.get(base, headers=staff).json()
    assert [c["mentions"] for c in history["comments"]] == [[CLIENT, ENGINEER]]
    assert [t["state"] for t in history["tasks"]] == ["Completed"]
