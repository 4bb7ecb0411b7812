"""Intake: a form response becomes REQ-000123 exactly once, however the flow retries."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from shared.errors import InvalidInput
from shared.models.request import RequestSubmission, State
from shared.services import requests
from shared.services.registration import register
from shared.store.persons import PersonRepository
from shared.store.requests import RequestRepository
from tests.factories import hr_update
from tests.helpers.desk import STAFF, deliver, form

LINK = "https://roster.example.edu/api/console/requests/"


def submit(rt, body=None, actor="flow"):
    return requests.submit(rt, RequestSubmission.model_validate(body or form()), actor)


def test_a_form_response_becomes_a_numbered_request_and_both_sides_are_emailed(rt, wiki):
    result = submit(rt)
    assert result.created and result.request.number == "REQ-000001"
    assert result.request.state == State.new
    assert [a.action.value for a in result.request.accounts] == ["add", "add"]

    emails = deliver(rt)
    [confirmation] = [e for e in emails if e["to"] == ["grace.hopper@example.edu"]]
    [notice] = [e for e in emails if e["to"] == [STAFF]]
    assert confirmation["to"] == ["grace.hopper@example.edu"] and confirmation["cc"] == []
    assert confirmation["subject"] == "REQ-000001: we have received your request"
    token = RequestRepository(rt.store).viewer_token("REQ-000001")
    mine = f"https://roster.example.edu/api/track/REQ-000001/{token}"
    assert mine in confirmation["text"] and f'href="{mine}"' in confirmation["html"]
    assert "/api/console/" not in confirmation["text"] + confirmation["html"]
    assert "Team wiki" in confirmation["text"] and "Alan Turing <alan.turing@example.edu>" in confirmation["text"]
    assert notice["to"] == [STAFF] and notice["reply_to"] == "grace.hopper@example.edu"
    assert notice["subject"] == "REQ-000001: new invite request for wiki"
    assert f"{LINK}REQ-000001" in notice["text"]


def test_a_retry_of_the_same_form_response_returns_the_same_request_and_no_new_email(rt, wiki):
    first = submit(rt)
    deliver(rt)
    again = submit(rt, form(details="edited on the retry"))
    assert not again.created and again.request.number == first.request.number
    assert again.request.details == first.request.details
    assert deliver(rt) == [] and len(list(rt.mail.sent())) == 2
    assert RequestRepository(rt.store).last_number() == 1


def test_numbers_have_no_gaps_or_duplicates_under_concurrent_submissions(rt, wiki):
    numbers: list[str] = []
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            numbers.append(submit(rt, form(f"F-{n}")).request.number)
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sorted(numbers) == [f"REQ-{n:06d}" for n in range(1, 17)]
    assert RequestRepository(rt.store).last_number() == 16


def test_the_same_form_response_twice_at_the_same_moment_is_one_request(rt, wiki):
    results = []
    barrier = threading.Barrier(8)

    def send() -> None:
        barrier.wait()
        results.append(submit(rt))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert {r.request.number for r in results} == {"REQ-000001"}
    assert sum(r.created for r in results) == 1
    assert RequestRepository(rt.store).last_number() == 1
    assert len(deliver(rt)) == 2


def test_a_crash_after_the_number_is_reserved_is_finished_by_the_flows_retry(rt, wiki, monkeypatch):
    original = RequestRepository.create

    def crash(self, *args, **kwargs):
        raise RuntimeError("the process died")

    monkeypatch.setattr(RequestRepository, "create", crash)
    with pytest.raises(RuntimeError):
        submit(rt)
    repo = RequestRepository(rt.store)
    assert repo.claim("F-1001").number == "REQ-000001" and repo.get("REQ-000001") is None

    monkeypatch.setattr(RequestRepository, "create", original)
    retried = submit(rt)
    assert retried.created and retried.request.number == "REQ-000001"
    assert submit(rt, form("F-1002")).request.number == "REQ-000002"
    assert len(deliver(rt)) == 4


def test_a_crash_before_the_emails_leave_is_made_good_by_the_retry(rt, wiki, monkeypatch):
    def unavailable(*args, **kwargs):
        from shared.bus.port import BusError

        raise BusError("the bus is unavailable")

    monkeypatch.setattr(rt.bus, "publish", unavailable)
    with pytest.raises(requests.Busy):
        submit(rt)
    assert len(RequestRepository(rt.store).pending("REQ-000001")) == 2

    monkeypatch.undo()
    assert not submit(rt).created
    assert sorted(e["subject"] for e in deliver(rt)) == [
        "REQ-000001: new invite request for wiki",
        "REQ-000001: we have received your request",
    ]
    assert RequestRepository(rt.store).pending("REQ-000001") == []


def test_an_unknown_service_is_refused_and_takes_no_number(rt, wiki):
    with pytest.raises(InvalidInput) as refused:
        submit(rt, form(service="payroll"))
    assert [e.field for e in refused.value.errors] == ["service"]
    assert RequestRepository(rt.store).last_number() == 0
    assert submit(rt, form("F-2")).request.number == "REQ-000001"


def test_a_registered_requester_is_linked_to_their_person(rt, wiki):
    person = register(rt, _update(), "hr").person
    assert submit(rt).request.requester.person_id == person.id


def _update():
    from shared.models.person import PersonUpdate

    return PersonUpdate.model_validate(
        hr_update(
            names={"given": "Grace", "family": "Hopper"},
            emails=[{"address": "Grace.Hopper@example.edu", "type": "work"}],
        )
    )


def suspend(rt, person_id: str, **dates) -> None:
    """A security officer adds the person to suspend-immediate (optionally dated)."""
    from shared.models.group import MemberIn
    from shared.services import groups

    member = MemberIn(person_id=person_id, reason="account compromised", **dates)
    groups.add_member(rt, "suspend-immediate", member, "entra:officer", {"Suspend.Manage"})


def test_a_suspended_requester_is_refused_with_the_reason_and_the_attempt_is_audited(rt, wiki):
    person = register(rt, _update(), "hr").person
    suspend(rt, person.id)

    with pytest.raises(requests.RequesterNotEligible) as refused:
        submit(rt, actor="apikey:flow")
    assert refused.value.status == 403
    assert "suspend-immediate" in refused.value.detail
    assert RequestRepository(rt.store).last_number() == 0
    assert deliver(rt) == []
    [attempt] = [r for r in PersonRepository(rt.store).trail(person.id) if r["action"] == "request.refused"]
    assert attempt["actor"] == "apikey:flow"
    assert attempt["details"] == {"form_response_id": "F-1001", "service": "wiki", "category": "invite"}


def test_a_suspension_refuses_only_between_its_start_and_end(rt, wiki, clock):
    from shared.services.membership import evaluate_person

    person = register(rt, _update(), "hr").person
    suspend(rt, person.id, start=clock.now() + timedelta(days=1), end=clock.now() + timedelta(days=3))
    assert submit(rt, form("F-1")).request.number == "REQ-000001"
    clock.advance(timedelta(days=1, seconds=1))
    evaluate_person(rt, person.id, "dated change")  # what the scheduled message does
    with pytest.raises(requests.RequesterNotEligible):
        submit(rt, form("F-2"))
    clock.advance(timedelta(days=2))
    evaluate_person(rt, person.id, "dated change")
    assert submit(rt, form("F-3")).request.number == "REQ-000002"


def test_a_request_already_made_is_returned_even_after_the_requester_is_suspended(rt, wiki):
    person = register(rt, _update(), "hr").person
    first = submit(rt)
    suspend(rt, person.id)
    assert submit(rt).request.number == first.request.number
