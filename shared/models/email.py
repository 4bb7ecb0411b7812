"""`EmailAddressText`: pydantic's `EmailStr` with a short path for the common address.

The answer is always `EmailStr`'s (pydantic's `validate_email`, i.e. email-validator without
a deliverability check): the same normalised address, the same refusal. What is short is how
it gets there: email-validator spends most of its time on the domain (IDNA, UTS-46, special-use
names), and an institution's addresses share a handful of domains. An address whose local part
is a plain ASCII dot-atom and whose domain is one email-validator already accepted and left as
it was (ASCII, only lowercased: no IDNA form to decode) is answered from that earlier verdict:
nothing else email-validator checks depends on the pair — the quoted and internationalised
local-part rules do not apply to a dot-atom, the RFC 2142 mailbox names (lowercased) are left to
the full check, and the length limit is checked here on the (ASCII, unchanged-length) address.
Every other address — and every refusal — goes through the full check. The remembered
verdicts assume email-validator's module settings (`SPECIAL_USE_DOMAIN_NAMES`,
`GLOBALLY_DELIVERABLE`, `TEST_ENVIRONMENT`) never change while the process runs: Roster never
sets them, and the pinned version's corpus test (tests/hardening/test_email_short_path.py)
compares every answer with `EmailStr`'s.
"""

from __future__ import annotations

import re
from typing import Annotated

from email_validator.rfc_constants import (
    CASE_INSENSITIVE_MAILBOX_NAMES,
    DOT_ATOM_TEXT,
    EMAIL_MAX_LENGTH,
)
from pydantic import AfterValidator, WithJsonSchema
from pydantic.networks import validate_email

_PLAIN_DOMAIN = re.compile(r"[A-Za-z0-9.-]+")  # characters of a DNS host name, nothing else
_SPECIAL_MAILBOXES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
_MAX_DOMAINS = 1024  # the domains an institution writes to are few; past this, no new ones kept
_accepted_domains: dict[str, str] = {}  # domain as written → email-validator's normalised domain


def _plain_parts(value: str) -> tuple[str, str] | None:
    """(local part, domain) of an ASCII `local@domain` whose local part is a dot-atom and
    whose domain holds only host-name characters; None for anything else."""
    if len(value) > EMAIL_MAX_LENGTH or not value.isascii():
        return None
    local, at, domain = value.partition("@")
    if not at or not DOT_ATOM_TEXT.fullmatch(local) or not _PLAIN_DOMAIN.fullmatch(domain):
        return None
    if local.lower() in _SPECIAL_MAILBOXES:
        return None
    return local, domain


def normalised_email(value: str) -> str:
    """The address as `EmailStr` normalises it, or its PydanticCustomError."""
    parts = _plain_parts(value)
    if parts is not None:
        known = _accepted_domains.get(parts[1])
        if known is not None:
            return f"{parts[0]}@{known}"
    normalised = validate_email(value)[1]
    if parts is not None:
        _remember(parts, normalised)
    return normalised


def _remember(parts: tuple[str, str], normalised: str) -> None:
    """Keep the domain's verdict when email-validator left the address as written but for
    the domain's case (so the length it checked is the length of any address on it)."""
    local, domain = parts
    answer = domain.lower()
    if normalised == f"{local}@{answer}" and len(_accepted_domains) < _MAX_DOMAINS:
        _accepted_domains[domain] = answer


# An e-mail address as it comes in: checked and normalised exactly as `EmailStr`.
EmailAddressText = Annotated[
    str, AfterValidator(normalised_email), WithJsonSchema({"type": "string", "format": "email"}),
]
