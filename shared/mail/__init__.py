"""Mailer port and adapters."""

from shared.mail.port import Mailer, MailError

__all__ = ["MailError", "Mailer", "open_mailer"]


def open_mailer(settings, store, clock) -> Mailer:
    """The mailer ROSTER_MAIL names: `outbox` (default) or `sendgrid`."""
    if settings.mail == "outbox":
        from shared.mail.outbox import OutboxMailer

        return OutboxMailer(store, clock, settings.mail_from)
    if settings.mail == "sendgrid":
        from shared.mail.sendgrid import SendGridMailer

        return SendGridMailer(settings.sendgrid_api_key, settings.mail_from)
    raise ValueError(f"ROSTER_MAIL must be outbox or sendgrid, not {settings.mail!r}")
