"""The webhook connector against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket

import pytest

from shared.clock import TravelClock
from shared.connectors import Outcome, open_connector
from shared.models.provisioning import Action, OrderState
from tests.factories import NOW, a_person, a_target, an_order

SECRET = "webhook-test-secret"
SECRET_ENV = "ROSTER_TARGET_SECRET_TEST_WEBHOOK"


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)


def send(receiver, sleeps, action=Action.create_account, external_id=None, **settings) -> Outcome:
    target = a_target("webhook", url=receiver.url, secret_env=SECRET_ENV, **settings)
    connector = open_connector(target, clock=TravelClock(NOW))
    return connector.execute(target, an_order(action), a_person(), external_id)


def test_a_2xx_answer_executes_the_order_with_a_signed_body(receiver, sleeps):
    receiver.answer(204)

    outcome = send(receiver, sleeps, Action.grant)

    assert outcome == Outcome(OrderState.executed, "HTTP 204")
    [request] = receiver.received
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Roster-Signature"] == expected
    assert request.headers["X-Roster-Order"] == "o-1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "Roster"
    assert json.loads(request.body) == {
        "order": {"id": "o-1", "person_id": "p-ada", "target_id": "app", "entitlement": "account",
                  "action": "grant", "reason": "policy fin-employees → account"},
        "person": {"id": "p-ada", "display_name": "Ada Lovelace", "email": "ada.lovelace@example.edu"},
        "sent_at": "2026-11-02T09:00:00+00:00",
    }  # fmt: skip
    assert sleeps == []


def test_the_external_id_roster_knows_is_kept(receiver, sleeps):
    assert send(receiver, sleeps, external_id="acct-7").external_id == "acct-7"


def test_a_500_is_a_transient_outcome_and_the_same_order_executes_on_the_next_attempt(receiver, sleeps):
    receiver.answer(500, 200)

    first = send(receiver, sleeps)
    second = send(receiver, sleeps)

    assert first == Outcome(OrderState.pending, "HTTP 500")
    assert first.transient
    assert second == Outcome(OrderState.executed, "HTTP 200")
    assert sleeps == []  # the next attempt is scheduled by the caller, never slept on
    bodies = {r.body for r in receiver.received}
    orders = {r.headers["X-Roster-Order"] for r in receiver.received}
    assert len(bodies) == len(orders) == 1  # a retry is the same delivery


def test_a_receiver_that_always_answers_500_gets_one_request_per_attempt(receiver, sleeps):
    receiver.answer(500)

    outcome = send(receiver, sleeps, retries=4)

    assert outcome == Outcome(OrderState.pending, "HTTP 500")
    assert len(receiver.received) == 1


def test_a_429_is_transient_and_carries_its_retry_after(receiver, sleeps):
    receiver.answer(429, 202)  # the receiver asks for 7 seconds with its 429

    outcome = send(receiver, sleeps)

    assert outcome == Outcome(OrderState.pending, "HTTP 429", retry_after=7.0)
    assert sleeps == []


def test_a_receiver_slower_than_the_timeout_is_a_transient_timeout(receiver, sleeps):
    receiver.answer((200, 1.0))

    outcome = send(receiver, sleeps, timeout_seconds=0.2, retries=2)

    assert outcome == Outcome(OrderState.pending, "timed out")
    assert len(receiver.received) == 1


def test_a_400_errors_the_order_at_once_without_retry(receiver, sleeps):
    receiver.answer(400, 200)

    outcome = send(receiver, sleeps)

    assert outcome == Outcome(OrderState.errored, "HTTP 400")
    assert len(receiver.received) == 1
    assert sleeps == []


def test_a_redirect_is_not_followed(receiver, sleeps):
    receiver.answer(302)

    assert send(receiver, sleeps) == Outcome(OrderState.errored, "HTTP 302")
    assert len(receiver.received) == 1


def test_a_missing_secret_errors_the_order_and_sends_nothing(receiver, sleeps, monkeypatch):
    monkeypatch.delenv(SECRET_ENV)

    outcome = send(receiver, sleeps)

    assert outcome.state == OrderState.errored
    assert outcome.note == (
        f"settings.secret_env: environment variable {SECRET_ENV} is not set (the webhook secret)"
    )
    assert receiver.received == []


def test_a_target_without_secret_env_is_refused_unsigned(receiver, sleeps):
    target = a_target("webhook", url=receiver.url)

    outcome = open_connector(target).execute(target, an_order(Action.grant), a_person(), None)

    assert outcome.state == OrderState.errored
    assert "secret_env" in outcome.note
    assert receiver.received == []


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("retries", 0),
        ("retries", "3"),
        ("retries", 11),
        ("timeout_seconds", 0),
        ("timeout_seconds", "10"),
        ("timeout_seconds", 61),
    ],
)
def test_bad_settings_error_the_order_naming_the_setting(receiver, sleeps, setting, value):
    outcome = send(receiver, sleeps, **{setting: value})

    assert outcome.state == OrderState.errored
    assert outcome.note.startswith(f"settings.{setting} ")
    assert receiver.received == []


def test_a_refused_connection_is_transient(sleeps):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    target = a_target("webhook", url=f"http://127.0.0.1:{port}/gone", secret_env=SECRET_ENV)

    outcome = open_connector(target).execute(target, an_order(Action.grant), a_person(), None)

    assert outcome == Outcome(OrderState.pending, "connection failed (ConnectError)")


def test_notes_carry_no_personal_data(receiver, sleeps):
    receiver.answer(503)

    note = send(receiver, sleeps).note

    assert "Ada" not in note and "example.edu" not in note and "p-ada" not in note


def test_a_manual_target_has_no_connector():
    with pytest.raises(ValueError, match="manual"):
        open_connector(a_target("manual"))
