"""Requesters open their own page from their emails: an unguessable, renewable link showing
the number, state, public comments and the accounts done — never the staff console."""

from __future__ import annotations

import re

import azure.functions as func
import pytest

from functions.requester import serve
from shared.models.provisioning import Target
from shared.models.request import CommentIn, RequestChange, TaskIn
from shared.services import orders, requests
from shared.store.targets import TargetRepository
from tests.people.helpers import CLIENT, deliver, submit_request, visible_text

LINK = re.compile(r"http://127\.0\.0\.1:7071/api/track/(REQ-\d+)/([A-Za-z0-9_-]{43})")


@pytest.fixture
def wiki(rt) -> Target:
    target = Target(id="wiki", name="Team wiki")
    TargetRepository(rt.store).save(target)
    return target


def open_link(number: str, token: str) -> func.HttpResponse:
    return serve(func.HttpRequest("GET", f"http://localhost/api/track/{number}/{token}", body=b"",
                                  route_params={"number": number, "token": token}))


def link_in(email) -> tuple[str, str]:
    [found] = set(LINK.findall(email.text))
    return found


def test_the_confirmation_links_to_a_page_the_requester_can_open_without_signing_in(rt, wiki):
    submit_request(rt)
    [confirmation] = [e for e in deliver(rt) if e.to == [CLIENT]]
    assert "/api/console/" not in confirmation.text + (confirmation.html or "")
    page = open_link(*link_in(confirmation))
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store" and "noindex" in page.headers["X-Robots-Tag"]
    words = visible_text(page.get_body().decode())
    assert "Your request REQ-000001 State: New" in words and "Invite request for Team wiki" in words


def test_the_page_shows_public_comments_only_and_the_accounts_done(rt, wiki):
    request = submit_request(rt)
    requests.comment(rt, request.number, CommentIn(text="internal: check the licence count"), "apikey:desk")
    requests.comment(rt, request.number, CommentIn(text="Both start on Monday?", public=True), "apikey:desk")
    requests.change(rt, request.number, RequestChange(state="InPlanning"), "apikey:desk")
    task = requests.create_task(rt, request.number, TaskIn(title="Invite both", create_orders=True), "apikey:desk")
    orders.confirm(rt, task.order_ids[0], "apikey:staff", "done", "alan.t")
    emails = deliver(rt)
    assert "REQ-000001: a new comment on your request" in [e.subject for e in emails if e.to == [CLIENT]]
    words = visible_text(open_link(*link_in(next(e for e in emails if e.to == [CLIENT]))).get_body().decode())
    assert "State: In Planning" in words and "Both start on Monday?" in words
    assert "The request desk," in words and "apikey:" not in words  # a key without a name is not shown
    assert "internal" not in words and "Invite both" not in words  # no internal comments, tasks or orders
    assert "Accounts done Alan Turing <alan.turing@example.edu> — add" in words
    assert "Ada Lovelace" not in words.split("Messages from the desk")[0]


def test_a_renewed_link_revokes_the_old_one(rt, wiki):
    request = submit_request(rt)
    [confirmation] = [e for e in deliver(rt) if e.to == [CLIENT]]
    number, old = link_in(confirmation)
    new = requests.renew_link(rt, request.number, "apikey:desk")
    assert open_link(number, old).status_code == 404
    assert open_link(number, new.rsplit("/", 1)[1]).status_code == 200
    trail = [r["action"] for r in requests.RequestRepository(rt.store).trail(number)]
    assert "request.link_renewed" in trail


@pytest.mark.parametrize("number, token", [("REQ-000001", "guess"), ("REQ-000002", None), ("REQ-000001", "")])
def test_a_wrong_number_or_token_is_one_plain_404(rt, wiki, number, token):
    real = requests.renew_link(rt, submit_request(rt).number, "apikey:desk").rsplit("/", 1)[1]
    response = open_link(number, real if token is None else token)
    assert response.status_code == 404 and "This link does not open a request" in response.get_body().decode()


def test_a_task_completed_too_early_says_whose_accounts_wait_without_internal_ids(rt, wiki):
    request = submit_request(rt)
    requests.change(rt, request.number, RequestChange(state="InPlanning"), "apikey:desk")
    task = requests.create_task(rt, request.number, TaskIn(title="Invite both", create_orders=True), "apikey:desk")
    with pytest.raises(requests.Conflict) as refused:
        requests.complete_task(rt, request.number, task.id, "apikey:desk")
    assert "alan.turing@example.edu is Transmitted" in refused.value.detail
    assert not any(order_id in refused.value.detail for order_id in task.order_ids)


def test_a_task_with_orders_sends_the_desk_one_digest_with_counts_and_the_number(rt, wiki):
    request = submit_request(rt)
    deliver(rt)
    requests.create_task(rt, request.number, TaskIn(title="Invite both", create_orders=True), "apikey:desk")
    [digest] = [e for e in deliver(rt) if "manual provisioning" in e.subject]
    assert digest.subject == "REQ-000001: 2 new manual provisioning orders for Team wiki"
    assert "- 2 account(s) to create" in digest.text and "/api/console/worklist?target=wiki" in digest.text
