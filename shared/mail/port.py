"""The Mailer port: one email at a time."""

from __future__ import annotations

from typing import Protocol

from shared.models.messages import Email


class MailError(Exception):
    """A transient failure to send: the notification message comes back."""


class Mailer(Protocol):
    def send(self, email: Email) -> None: ...
