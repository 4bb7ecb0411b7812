"""The `sendgrid` mailer: SendGrid's v3 mail/send through the `sendgrid` package.

In Azure the key is a Key Vault reference the platform resolves; a value still reading
`@Microsoft.KeyVault(...)` means it did not resolve (no secret, or the identity may not read
it), so the mailer refuses to start rather than send with it and fail on every email.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.error import URLError

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from shared.config import SettingsError
from shared.mail.port import MailError
from shared.models.messages import Email

log = logging.getLogger("roster.mail")
API = "https://api.sendgrid.com"
TIMEOUT = 20.0


def check_key(api_key: str | None) -> str:
    """The key, or SettingsError when it is clearly not a resolved key."""
    key = (api_key or "").strip()
    if not key:
        raise SettingsError("SENDGRID_API_KEY is empty: set it, or use ROSTER_MAIL=outbox")
    if key.startswith("@Microsoft.KeyVault("):
        raise SettingsError(
            "SENDGRID_API_KEY is an unresolved Key Vault reference: create the secret and let "
            "the app's identity read it (Key Vault Secrets User), then restart the app"
        )
    return key


class SendGridMailer:
    def __init__(self, api_key: str | None, sender: str, host: str = API, timeout: float = TIMEOUT):
        self._client = SendGridAPIClient(check_key(api_key), host=host)
        self._client.client.timeout = timeout
        self._sender = sender

    def send(self, email: Email) -> None:
        """One email; MailError (transient: the notification comes back) on any failure."""
        try:
            self._client.send(payload(email, self._sender))
        except HTTPError as error:
            raise MailError(f"SendGrid answered HTTP {error.status_code}") from None
        except (URLError, OSError) as error:
            raise MailError(f"SendGrid could not be reached: {type(error).__name__}") from None


def payload(email: Email, sender: str) -> dict[str, Any]:
    """The v3 mail/send body. SendGrid refuses an address twice in one personalization,
    so a cc that is also a recipient is dropped."""
    to = list(dict.fromkeys(str(a) for a in email.to))
    seen = {a.casefold() for a in to}
    cc = [a for a in dict.fromkeys(str(a) for a in email.cc) if a.casefold() not in seen]
    personalization: dict[str, Any] = {"to": [{"email": a} for a in to]}
    if cc:
        personalization["cc"] = [{"email": a} for a in cc]
    content = [{"type": "text/plain", "value": email.text}]
    if email.html:
        content.append({"type": "text/html", "value": email.html})
    body: dict[str, Any] = {
        "personalizations": [personalization],
        "from": {"email": sender},
        "subject": email.subject,
        "content": content,
    }
    if email.reply_to:
        body["reply_to"] = {"email": str(email.reply_to)}
    return body
