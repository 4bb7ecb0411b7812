"""Emails are templated and escaped, subjects carry nothing a client typed, the Teams post is
best effort, and the notification queue trigger hands each email to the Mailer."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from shared.mail.port import MailError
from shared.models.request import RequestSubmission
from shared.services import requests
from shared.store.deadletters import DeadLetterRepository
from tests.helpers.app import message
from tests.helpers.desk import deliver, form

SCRIPT = '<script>alert("x")</script><b onmouseover="steal()">bold</b> & <a href="javascript:x">link</a>'


def submit(rt, body):
    return requests.submit(rt, RequestSubmission.model_validate(body), "flow").request


def test_html_and_script_in_the_details_are_escaped_in_html_and_kept_verbatim_in_text(rt, wiki):
    submit(rt, form(details=SCRIPT, requester={"email": "x@example.edu", "name": "<i>Eve</i> & co"}))
    for email in deliver(rt):
        assert "<script>" not in email["html"] and "<b onmouseover" not in email["html"]
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in email["html"]
        assert "&lt;i&gt;Eve&lt;/i&gt; &amp; co" in email["html"]
        assert 'href="javascript:' not in email["html"]
        assert SCRIPT in email["text"]


def test_subjects_are_one_line_and_built_from_the_number_not_from_what_the_client_typed(rt, wiki):
    submit(rt, form(details="Subject: hacked\r\nBcc: everyone@example.edu"))
    for email in deliver(rt):
        assert "\r" not in email["subject"] and "\n" not in email["subject"]
        assert email["subject"].startswith("REQ-000001: ")
        assert "hacked" not in email["subject"] and "everyone@" not in " ".join(email["to"] + email["cc"])


def test_a_new_request_is_posted_to_the_teams_channel_without_personal_data(rt, wiki, endpoint, monkeypatch):
    monkeypatch.setattr(rt, "settings", dataclasses.replace(rt.settings, teams_webhook=f"{endpoint.url}/hook"))
    submit(rt, form())
    submit(rt, form())  # a retry does not post again
    [post] = endpoint.posts
    assert post["path"] == "/hook" and post["headers"]["Content-Type"] == "application/json"
    card = post["json"]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["body"][0]["text"] == "New request REQ-000001"
    assert card["content"]["actions"][0]["url"] == "https://roster.example.edu/api/console/requests/REQ-000001"
    assert "grace" not in str(post["json"]).lower() and "turing" not in str(post["json"]).lower()


@pytest.mark.parametrize("status", [500, 404])
def test_a_failing_teams_channel_is_logged_without_personal_data_and_does_not_fail_the_request(
    rt, wiki, endpoint, monkeypatch, caplog, status
):
    endpoint.status = status
    monkeypatch.setattr(rt, "settings", dataclasses.replace(rt.settings, teams_webhook=f"{endpoint.url}/hook"))
    with caplog.at_level(logging.WARNING, logger="roster.notifications"):
        assert submit(rt, form()).number == "REQ-000001"
    assert len(deliver(rt)) == 2
    [line] = [r.getMessage() for r in caplog.records if r.name == "roster.notifications"]
    assert line == f"Teams post for REQ-000001 failed: HTTPStatusError (HTTP {status})"


def test_an_unreachable_teams_channel_does_not_fail_the_request(rt, wiki, monkeypatch, caplog):
    monkeypatch.setattr(rt, "settings", dataclasses.replace(rt.settings, teams_webhook="http://127.0.0.1:9/hook"))
    with caplog.at_level(logging.WARNING, logger="roster.notifications"):
        assert submit(rt, form()).number == "REQ-000001"
    assert "ConnectError" in caplog.text and "127.0.0.1" not in caplog.text


# -- the queue trigger --------------------------------------------------------------------


def test_the_notification_trigger_sends_each_queued_email_to_the_outbox(functions, rt, wiki):
    submit(rt, form())
    queue = rt.settings.queue("notification")
    while (delivery := rt.bus.receive(queue)) is not None:
        functions["notification_queue"](message(delivery.body, delivery.message_id))
        rt.bus.complete(delivery)
    sent = list(rt.mail.sent())
    assert sorted(e["subject"] for e in sent) == [
        "REQ-000001: new invite request for wiki",
        "REQ-000001: we have received your request",
    ]
    assert {e["from"] for e in sent} == {rt.settings.mail_from}
    assert all(set(e) >= {"to", "cc", "subject", "text", "html"} for e in sent)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "MalformedJson"),
        (b'{"to": ["not-an-address"], "subject": "x", "text": "y"}', "ValidationFailed"),
        (b'{"to": ["a@example.edu"], "subject": "x\\r\\nBcc: b@example.edu", "text": "y"}', "ValidationFailed"),
    ],
)
def test_a_malformed_email_message_is_parked_with_a_reason_not_retried(functions, rt, body, reason):
    functions["notification_queue"](message(body, message_id="bad-mail"))
    [parked] = DeadLetterRepository(rt.store).list("notification")
    assert (parked["message_id"], parked["reason"]) == ("bad-mail", reason)
    assert list(rt.mail.sent()) == []


def test_a_mail_failure_raises_so_the_message_comes_back(functions, rt, monkeypatch):
    class Down:
        def send(self, email):
            raise MailError("SendGrid answered HTTP 503")

    monkeypatch.setattr(rt, "mailer", Down())
    rt.__dict__.pop("mail", None)
    body = b'{"to": ["a@example.edu"], "subject": "REQ-000001: x", "text": "y"}'
    with pytest.raises(MailError):
        functions["notification_queue"](message(body, message_id="m-1"))
    assert list(DeadLetterRepository(rt.store).list("notification")) == []
