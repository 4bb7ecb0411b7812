"""The desk's work on a request: states, owner, comments with @mentions, tasks, emails."""

from __future__ import annotations

import threading

import pytest

from shared.errors import Conflict, InvalidInput, NotFound
from shared.models.request import (
    CommentIn,
    RequestChange,
    RequestSubmission,
    State,
    TaskChange,
    TaskIn,
    TaskState,
)
from shared.services import requests
from shared.store.requests import RequestRepository
from tests.helpers.desk import deliver, form

OWNER = "margaret.hamilton@example.edu"
CLIENT = "grace.hopper@example.edu"


@pytest.fixture
def number(rt, wiki) -> str:
    """A submitted request whose arrival emails have gone out (and been cleared)."""
    result = requests.submit(rt, RequestSubmission.model_validate(form()), "flow")
    deliver(rt)
    return result.request.number


def move(rt, number, state=None, **fields):
    body = RequestChange.model_validate({**({"state": state} if state else {}), **fields})
    return requests.change(rt, number, body, "entra:desk")


def test_planning_starts_the_requester_is_told_cc_the_owner(rt, number):
    request = move(rt, number, "InPlanning", owner=OWNER)
    assert request.state == State.in_planning and request.owner == OWNER
    emails = deliver(rt)
    [planning] = [e for e in emails if e["to"] == [CLIENT]]
    assert planning["cc"] == [OWNER]
    assert planning["subject"] == f"{number}: your request is being planned"
    assert f"{OWNER} is looking after it" in planning["text"]
    [owner] = [e for e in emails if e["to"] == [OWNER]]
    assert owner["subject"] == f"{number}: you are the owner of this request"


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([], "Done"),
        ([], "Closed"),
        ([], "InProgress"),
        (["InPlanning"], "Done"),
        (["InPlanning", "InProgress", "Done", "Closed"], "InProgress"),
        (["Rejected"], "InPlanning"),
    ],
)
def test_a_transition_the_workflow_does_not_have_is_refused_and_changes_nothing(rt, number, path, refused):
    for state in path:
        move(rt, number, state)
    before = requests.get(rt, number)
    with pytest.raises(requests.InvalidTransition) as error:
        move(rt, number, refused)
    assert error.value.status == 409
    assert f"from {before.state.value} to {refused}" in error.value.detail
    assert requests.get(rt, number) == before


def test_the_same_state_again_is_no_change_and_no_email(rt, number):
    first = move(rt, number, "InPlanning")
    deliver(rt)
    assert move(rt, number, "InPlanning").version == first.version
    assert deliver(rt) == []


def test_done_needs_every_task_completed(rt, number):
    move(rt, number, "InPlanning")
    move(rt, number, "InProgress")
    task = requests.create_task(rt, number, TaskIn(title="Create the accounts"), "entra:desk")
    with pytest.raises(requests.InvalidTransition, match="open tasks"):
        move(rt, number, "Done")
    requests.complete_task(rt, number, task.id, "entra:desk")
    assert move(rt, number, "Done").state == State.done


def test_every_mentioned_address_is_emailed_the_comment_once(rt, number):
    text = f"@{CLIENT} can you confirm the start date? cc @{OWNER}, and @{CLIENT.upper()} again. mail me @ noon"
    comment = requests.comment(rt, number, CommentIn(text=text), "entra:desk")
    assert comment.mentions == [CLIENT, OWNER]
    emails = deliver(rt)
    assert sorted(e["to"][0] for e in emails) == sorted([CLIENT, OWNER])
    for email in emails:
        assert email["subject"] == f"{number}: you were mentioned in a comment"
        assert "can you confirm the start date?" in email["text"]
    assert [c.text for c in requests.get(rt, number).comments] == [text]


def test_a_mention_that_is_not_an_address_is_refused(rt, number):
    with pytest.raises(InvalidInput) as refused:
        requests.comment(rt, number, CommentIn(text="ask @bob@example about it"), "entra:desk")
    assert refused.value.errors[0].field == "text"
    assert requests.get(rt, number).comments == []


def test_concurrent_comments_are_all_kept(rt, number):
    def write(n: int) -> None:
        requests.comment(rt, number, CommentIn(text=f"note {n}"), f"entra:staff{n}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    request = requests.get(rt, number)
    assert sorted(c.text for c in request.comments) == [f"note {n}" for n in range(8)]
    assert request.version == 9


def test_a_task_is_created_assigned_and_completed_and_the_requester_hears_what_was_done(rt, number):
    move(rt, number, "InPlanning", owner=OWNER)
    deliver(rt)
    task = requests.create_task(rt, number, TaskIn(title="Invite both to the wiki"), "entra:desk")
    assert task.state == TaskState.open and task.assignee is None and task.order_ids == []
    assert deliver(rt) == []

    assigned = requests.change_task(rt, number, task.id, TaskChange(assignee="linus@example.edu"), "entra:desk")
    assert assigned.assignee == "linus@example.edu"
    [assignment] = deliver(rt)
    assert assignment["to"] == ["linus@example.edu"]
    assert assignment["subject"] == f"{number}: a task has been assigned to you"
    assert "Invite both to the wiki" in assignment["text"]

    done = requests.complete_task(rt, number, task.id, "entra:linus")
    assert done.state == TaskState.completed and done.completed_at is not None
    [completion] = deliver(rt)
    assert completion["to"] == [CLIENT] and completion["cc"] == [OWNER]
    assert completion["subject"] == f"{number}: work on your request has been completed"
    assert "Accounts added:\n- Alan Turing <alan.turing@example.edu>\n- Ada Lovelace <ada.lovelace@example.edu>" in completion["text"]
    assert "<li>Alan Turing &lt;alan.turing@example.edu&gt;</li>" in completion["html"]

    again = requests.complete_task(rt, number, task.id, "entra:linus")
    assert again.state == TaskState.completed and deliver(rt) == []


def test_accounts_are_listed_under_what_is_done_to_them(rt, wiki):
    body = form("F-9", category="remove", accounts=[
        {"email": "a@example.edu", "name": "Leaver One"},
        {"email": "b@example.edu", "name": "Mover Two", "action": "reset"},
    ])  # fmt: skip
    number = requests.submit(rt, RequestSubmission.model_validate(body), "flow").request.number
    deliver(rt)
    task = requests.create_task(rt, number, TaskIn(title="Offboard"), "entra:desk")
    requests.complete_task(rt, number, task.id, "entra:desk")
    completion = next(e for e in deliver(rt) if "completed" in e["subject"])
    assert "Accounts reset:\n- Mover Two <b@example.edu>" in completion["text"]
    assert "Accounts removed:\n- Leaver One <a@example.edu>" in completion["text"]


def test_orders_are_only_for_invite_reset_and_remove_requests(rt, wiki):
    body = form("F-7", category="other", accounts=[])
    number = requests.submit(rt, RequestSubmission.model_validate(body), "flow").request.number
    with pytest.raises(InvalidInput) as refused:
        requests.create_task(rt, number, TaskIn(title="Look into it", create_orders=True), "entra:desk")
    assert refused.value.errors[0].field == "create_orders"
    assert requests.get(rt, number).tasks == []


def test_closing_tells_the_requester_the_request_is_completed(rt, number):
    for state in ("InPlanning", "InProgress", "Done"):
        move(rt, number, state)
    move(rt, number, owner=OWNER)
    deliver(rt)
    move(rt, number, "Closed", note="Both accounts are active.")
    [closed] = deliver(rt)
    assert closed["to"] == [CLIENT] and closed["cc"] == [OWNER]
    assert closed["subject"] == f"{number}: your request has been completed"
    assert "Both accounts are active." in closed["text"]
    with pytest.raises(Conflict):
        requests.create_task(rt, number, TaskIn(title="One more thing"), "entra:desk")


def test_a_rejection_tells_the_requester_why(rt, number):
    move(rt, number, "Rejected", note="The wiki is being retired; use the intranet.")
    [rejected] = deliver(rt)
    assert rejected["subject"] == f"{number}: your request has been declined"
    assert "The wiki is being retired; use the intranet." in rejected["text"]


def test_every_change_is_in_the_requests_audit_trail_with_who_and_what(rt, number):
    move(rt, number, "InPlanning", owner=OWNER)
    requests.comment(rt, number, CommentIn(text=f"@{CLIENT} thanks"), "entra:desk")
    task = requests.create_task(rt, number, TaskIn(title="Do it", assignee=OWNER), "entra:desk")
    requests.change_task(rt, number, task.id, TaskChange(assignee=None), "entra:desk")
    requests.complete_task(rt, number, task.id, "entra:margaret")
    move(rt, number, owner=None)
    trail = RequestRepository(rt.store).trail(number)
    assert [(r["action"], r["actor"]) for r in trail] == [
        ("request.submitted", "flow"),
        ("request.state_changed", "entra:desk"),
        ("request.commented", "entra:desk"),
        ("request.task_created", "entra:desk"),
        ("request.task_changed", "entra:desk"),
        ("request.task_completed", "entra:margaret"),
        ("request.owner_changed", "entra:desk"),
    ]
    assert trail[1]["details"] == {
        "state": {"from": "New", "to": "InPlanning"}, "owner": {"from": None, "to": OWNER},
    }


def test_an_unknown_request_or_task_is_not_found(rt, number):
    with pytest.raises(NotFound):
        requests.get(rt, "REQ-999999")
    with pytest.raises(NotFound):
        move(rt, "not-a-number", "InPlanning")
    with pytest.raises(NotFound):
        requests.complete_task(rt, number, "nope", "entra:desk")


def test_the_list_filters_by_state_and_owner_and_pages(rt, wiki):
    for n in range(5):
        requests.submit(rt, RequestSubmission.model_validate(form(f"F-{n}")), "flow")
    move(rt, "REQ-000002", "InPlanning", owner=OWNER)
    move(rt, "REQ-000004", "InPlanning")

    planning, _ = requests.listing(rt, state=State.in_planning, owner=None, start=None, limit=10)
    assert [r.number for r in planning] == ["REQ-000002", "REQ-000004"]
    mine, _ = requests.listing(rt, state=None, owner=OWNER, start=None, limit=10)
    assert [r.number for r in mine] == ["REQ-000002"]
    page, following = requests.listing(rt, state=None, owner=None, start=None, limit=2)
    assert [r.number for r in page] == ["REQ-000001", "REQ-000002"] and following == "REQ-000003"
    rest, end = requests.listing(rt, state=None, owner=None, start=following, limit=10)
    assert [r.number for r in rest] == ["REQ-000003", "REQ-000004", "REQ-000005"] and end is None


def test_a_task_with_orders_completes_once_staff_confirmed_them_and_the_requester_is_told(rt, number):
    from shared.services import orders

    move(rt, number, "InPlanning", owner=OWNER)
    deliver(rt)
    task = requests.create_task(rt, number, TaskIn(title="Invite both", create_orders=True), "entra:desk")
    assert len(task.order_ids) == 2
    worklist = orders.list_orders(rt, "wiki", "Transmitted", None)
    assert sorted(o.id for o in worklist) == sorted(task.order_ids)
    assert {(o.action.value, o.account) for o in worklist} == {
        ("create_account", "alan.turing@example.edu"), ("create_account", "ada.lovelace@example.edu")}
    assert all(o.reason.startswith(f"request {number}, task {task.id}") for o in worklist)

    deliver(rt)
    with pytest.raises(Conflict):
        requests.complete_task(rt, number, task.id, "entra:desk")
    orders.bulk(rt, "confirm", task.order_ids, "apikey:staff")
    done = requests.complete_task(rt, number, task.id, "entra:desk")
    assert done.state == TaskState.completed
    completion = next(e for e in deliver(rt) if "completed" in e["subject"])
    assert completion["to"] == [CLIENT] and completion["cc"] == [OWNER]
    assert "Ada Lovelace <ada.lovelace@example.edu>" in completion["text"]
