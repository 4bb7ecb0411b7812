"""Roster → Azure DevOps: the seed scenario mirrored call by call, and what a retry, a busy
tracker, another person's edit and a refusal do."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shared.errors import RosterError
from shared.models.request import CommentIn, RequestChange, RequestSubmission, State, TaskIn
from shared.services import requests
from shared.services.tickets import TicketEvent, mirror
from tests.tickets.mirror_steps import form, pump

DESK = "holly@example.edu"


def submit(rt, form_response_id: str = "F-1"):
    return requests.submit(rt, RequestSubmission.model_validate(form(form_response_id)), "flow").request


def emails(rt) -> list[dict]:
    found = []
    while (delivery := rt.bus.receive("notification")) is not None:
        found.append(json.loads(delivery.body))
        rt.bus.complete(delivery)
    return found


def test_the_seed_scenario_is_mirrored_to_a_work_item_with_its_state_comments_and_tasks(mirrored, devops):
    rt = mirrored
    request = submit(rt)
    assert pump(rt) == 1
    [item] = devops.items.values()
    fields = item["fields"]
    assert fields["System.Title"] == f"{request.number} · invite · Team wiki"
    assert "&lt;b&gt;join&lt;/b&gt;" in fields["System.Description"] and "<b>join" not in fields["System.Description"]
    assert {"roster", f"roster-{request.number}", "invite"} <= {t.strip() for t in fields["System.Tags"].split(";")}
    assert fields["System.State"] == "To Do"

    requests.change(rt, request.number, RequestChange(state=State.in_planning, note="on it"), DESK)
    requests.comment(rt, request.number, CommentIn(text=f"Thanks @{DESK} and @grace@example.edu, planning now."),
                     DESK)
    task = requests.create_task(rt, request.number, TaskIn(title="Invite Alan", assignee=DESK), DESK)
    pump(rt)
    assert item["fields"]["System.State"] == "In Planning"
    state_patch = devops.calls_to("PATCH", rf"workitems/{item['id']}$")[0].body
    assert state_patch[0] == {"op": "test", "path": "/rev", "value": 1}
    [comment] = devops.comments[item["id"]]
    assert 'data-vss-mention="version:2.0,6f1c2e9a-0000-4000-8000-000000000001">@Holly Desk</a>' in comment
    assert "@grace@example.edu" in comment and "roster-comment:" in comment
    [child] = [i for i in devops.items.values() if i["fields"]["System.WorkItemType"] == "Task"]
    assert child["fields"]["System.Title"] == "Invite Alan"
    assert item["relations"] == [{"rel": "System.LinkTypes.Hierarchy-Forward", "url": child["url"]}]

    requests.change(rt, request.number, RequestChange(state=State.in_progress), DESK)
    requests.complete_task(rt, request.number, task.id, DESK)
    requests.change(rt, request.number, RequestChange(state=State.done), DESK)
    requests.change(rt, request.number, RequestChange(state=State.closed), DESK)
    pump(rt)
    assert (child["fields"]["System.State"], item["fields"]["System.State"]) == ("Done", "Closed")
    assert len(devops.items) == 2 and len(devops.comments[item["id"]]) == 1
    closing = [e for e in emails(rt) if "completed" in e["subject"] or "closed" in e["subject"].lower()]
    assert closing and all(f"Azure DevOps: #{item['id']}" in e["text"] for e in closing)


def test_with_the_mirror_off_nothing_is_queued_for_a_tracker(rt):
    from shared.models.provisioning import Target
    from shared.store.targets import TargetRepository

    TargetRepository(rt.store).save(Target(id="wiki", name="Team wiki"))
    request = submit(rt)
    requests.change(rt, request.number, RequestChange(state=State.in_planning), DESK)
    assert rt.bus.receive("ticket-mirror") is None
    assert all("Azure DevOps" not in e["text"] for e in emails(rt))


def test_a_create_whose_answer_was_lost_is_found_by_its_tag_not_created_twice(mirrored, devops, clock):
    rt = mirrored
    devops.lose_next_create = True
    request = submit(rt)
    pump(rt)
    assert len(devops.items) == 1  # created, but Roster never heard the answer
    retry = rt.bus.receive("ticket-mirror")
    assert retry is None  # scheduled for later, not due yet
    clock.advance(timedelta(minutes=1))
    assert pump(rt) == 1
    assert len(devops.items) == 1 and devops.calls_to("POST", r"wiql")
    requests.change(rt, request.number, RequestChange(state=State.in_planning), DESK)
    pump(rt)
    assert devops.items[1]["fields"]["System.State"] == "In Planning"


def test_a_busy_tracker_is_retried_after_its_retry_after_and_the_desk_never_waits(mirrored, devops, clock):
    rt = mirrored
    devops.fail_next(429, retry_after="30")
    request = submit(rt)  # the desk's own work is done at once
    assert request.number == "REQ-000001"
    pump(rt)
    assert devops.items == {}
    clock.advance(timedelta(seconds=29))
    assert pump(rt) == 0
    clock.advance(timedelta(seconds=2))
    assert pump(rt) == 1 and len(devops.items) == 1


def test_another_persons_edit_between_read_and_write_is_read_again_not_overwritten(mirrored, devops):
    rt = mirrored
    request = submit(rt)
    pump(rt)
    requests.change(rt, request.number, RequestChange(state=State.in_planning), DESK)
    devops.edit_after_next_read = {"System.Title": "edited in DevOps"}
    pump(rt)
    item = devops.items[1]
    assert item["fields"]["System.State"] == "In Planning" and item["fields"]["System.Title"] == "edited in DevOps"
    statuses = [c for c in devops.calls_to("PATCH", r"workitems/1$")]
    assert len(statuses) == 2  # the first met 412, the second went through


def test_a_state_the_process_does_not_have_is_refused_once_and_parked_not_retried(mirrored, devops):
    rt = mirrored
    rt.tracker.settings.states[State.in_planning.value] = "Planning"  # not a state of this process
    request = submit(rt)
    pump(rt)
    requests.change(rt, request.number, RequestChange(state=State.in_planning), DESK)
    delivery = rt.bus.receive("ticket-mirror")
    with pytest.raises(RosterError) as refused:
        mirror(rt, TicketEvent.model_validate_json(delivery.body))
    assert refused.value.status == 422 and "HTTP 400" in refused.value.detail


def test_the_teams_post_waits_for_the_work_item_and_links_both(mirrored, devops, monkeypatch):
    import dataclasses

    rt = mirrored
    monkeypatch.setattr(rt, "settings", dataclasses.replace(rt.settings, teams_webhook=f"{devops.url}/teams/hook"))
    request = submit(rt)
    assert devops.teams_posts == []  # not before the ticket exists
    pump(rt)
    [post] = devops.teams_posts
    card = post["attachments"][0]["content"]
    assert {"title": "Azure DevOps", "value": "#1"} in card["body"][1]["facts"]
    urls = [a["url"] for a in card["actions"]]
    assert urls[0].endswith(f"/api/console/requests/{request.number}") and urls[1].endswith("/_workitems/edit/1")
    requests.change(rt, request.number, RequestChange(state=State.in_planning), DESK)
    pump(rt)
    assert len(devops.teams_posts) == 1
