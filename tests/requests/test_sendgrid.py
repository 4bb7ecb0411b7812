"""The SendGrid adapter: the real `sendgrid` client against a local endpoint that checks the
v3 mail/send payload; a key that is clearly not resolved is refused before anything is sent."""

from __future__ import annotations

import pytest

from shared.config import Settings, SettingsError
from shared.mail import open_mailer
from shared.mail.port import MailError
from shared.mail.sendgrid import SendGridMailer
from shared.models.messages import Email

KEY = "SG.test-key.not-a-real-one"


def email(**over) -> Email:
    data = {
        "to": ["grace.hopper@example.edu"],
        "cc": ["margaret.hamilton@example.edu"],
        "subject": "REQ-000001: your request has been completed",
        "text": "Your request REQ-000001 has been completed.",
        "html": "<p>Your request <strong>REQ-000001</strong> has been completed.</p>",
        "reply_to": "identity-desk@example.edu",
    }
    return Email.model_validate({**data, **over})


def test_an_email_becomes_one_v3_mail_send_call(endpoint):
    endpoint.status = 202
    SendGridMailer(KEY, "roster@example.edu", host=endpoint.url).send(email())
    [post] = endpoint.posts
    assert post["path"] == "/v3/mail/send"
    assert post["headers"]["Authorization"] == f"Bearer {KEY}"
    assert post["headers"]["Content-Type"] == "application/json"
    assert post["json"] == {
        "personalizations": [
            {"to": [{"email": "grace.hopper@example.edu"}], "cc": [{"email": "margaret.hamilton@example.edu"}]}
        ],
        "from": {"email": "roster@example.edu"},
        "subject": "REQ-000001: your request has been completed",
        "content": [
            {"type": "text/plain", "value": "Your request REQ-000001 has been completed."},
            {"type": "text/html", "value": "<p>Your request <strong>REQ-000001</strong> has been completed.</p>"},
        ],
        "reply_to": {"email": "identity-desk@example.edu"},
    }


def test_a_cc_that_is_also_a_recipient_is_sent_once_as_sendgrid_requires(endpoint):
    endpoint.status = 202
    mailer = SendGridMailer(KEY, "roster@example.edu", host=endpoint.url)
    mailer.send(email(cc=["Grace.Hopper@example.edu"], html=None, reply_to=None))
    [post] = endpoint.posts
    assert post["json"]["personalizations"] == [{"to": [{"email": "grace.hopper@example.edu"}]}]
    assert post["json"]["content"] == [{"type": "text/plain", "value": "Your request REQ-000001 has been completed."}]
    assert "reply_to" not in post["json"]


@pytest.mark.parametrize("status", [400, 401, 429, 500, 503])
def test_an_error_answer_is_a_mail_error_naming_only_the_status(endpoint, status):
    endpoint.status, endpoint.answer = status, {"errors": [{"message": "grace.hopper@example.edu is bad"}]}
    with pytest.raises(MailError) as error:
        SendGridMailer(KEY, "roster@example.edu", host=endpoint.url).send(email())
    assert str(error.value) == f"SendGrid answered HTTP {status}"


def test_an_unreachable_sendgrid_is_a_mail_error():
    with pytest.raises(MailError, match="could not be reached"):
        SendGridMailer(KEY, "roster@example.edu", host="http://127.0.0.1:9", timeout=2).send(email())


@pytest.mark.parametrize(
    ("key", "says"),
    [
        (None, "empty"),
        ("", "empty"),
        ("   ", "empty"),
        ("@Microsoft.KeyVault(SecretUri=https://kv-x.vault.azure.net/secrets/sendgrid-api-key)", "unresolved Key Vault reference"),
    ],
)
def test_a_key_that_is_clearly_not_resolved_is_refused_before_sending(key, says):
    with pytest.raises(SettingsError, match=says):
        SendGridMailer(key, "roster@example.edu")


def test_roster_mail_sendgrid_opens_the_sendgrid_mailer_and_checks_its_key(tmp_path):
    reference = "@Microsoft.KeyVault(VaultName=kv-x;SecretName=sendgrid-api-key)"
    settings = Settings.from_env({"ROSTER_MAIL": "sendgrid", "SENDGRID_API_KEY": reference})
    with pytest.raises(SettingsError, match="SENDGRID_API_KEY"):
        open_mailer(settings, None, None)
    settings = Settings.from_env({"ROSTER_MAIL": "sendgrid", "SENDGRID_API_KEY": KEY})
    assert isinstance(open_mailer(settings, None, None), SendGridMailer)
