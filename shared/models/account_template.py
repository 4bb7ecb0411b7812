"""A target's account template: the login a person gets there (docs/targets.md, Account template).

A template is text with placeholders `{given}`, `{family}`, `{preferred}` (the preferred
name, else the given one), `{given_initial}` and `{person_id}`, e.g. `{given}.{family}` →
`ada.lovelace`. Names are folded to ASCII (`anyascii`: "Zoë Ŝtraße-Łukasz" → "zoe.strasse-
lukasz"), lower-cased, apostrophes dropped, and every run of other characters becomes one separator.
On a collision the caller asks for the next candidate: `ada.lovelace`, `ada.lovelace2`,
`ada.lovelace3`, … The login is the local part of a UPN (Entra) or the `uid` RDN (LDAP).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator

from anyascii import anyascii

from shared.models.person import Person

DEFAULT_TEMPLATE = "{given}.{family}"
FIELDS = frozenset({"given", "family", "preferred", "given_initial", "person_id"})
MAX_LOGIN = 64  # the local part of a UPN and mailNickname allow 64 characters
MAX_CANDIDATES = 99
_OTHER = re.compile(r"[^a-z0-9._-]+")
_SEPARATORS = re.compile(r"([._-])[._-]+")


def template_problem(template: str) -> str | None:
    """Why `template` is not a usable account template, or None when it is."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        return f"not a template: {error}"
    names = {name for _, name, spec, conv in parsed if name is not None}
    if not names:
        return "names no placeholder, e.g. {given}.{family}"
    unknown = sorted(names - FIELDS)
    if unknown:
        return f"unknown placeholder {{{unknown[0]}}}; known: {', '.join(sorted(FIELDS))}"
    if any(spec or conv for _, name, spec, conv in parsed if name is not None):
        return "placeholders take no format spec or conversion"
    return None


def fold(text: str) -> str:
    """ASCII, lower case, only letters, digits and `._-` (apostrophes dropped: O'Brien →
    obrien); separators not doubled or at the ends."""
    ascii_text = _OTHER.sub("-", anyascii(text).lower().replace("'", ""))
    return _SEPARATORS.sub(r"\1", ascii_text).strip("._-")


class AccountTemplate:
    """The login a template gives a person, and the candidates after a collision."""

    def __init__(self, template: str = DEFAULT_TEMPLATE):
        problem = template_problem(template)
        if problem:
            raise ValueError(f"account template {problem}")
        self.template = template

    def login(self, person: Person) -> str:
        names = person.names
        values = {
            "given": names.given,
            "family": names.family,
            "preferred": names.preferred or names.given,
            "given_initial": names.given[:1],
            "person_id": person.id,
        }
        login = fold(self.template.format(**{k: fold(v) for k, v in values.items()}))
        return login[:MAX_LOGIN].rstrip("._-") or fold(person.id)[:MAX_LOGIN]

    def candidates(self, person: Person) -> Iterator[str]:
        """The login, then the login with 2, 3, … appended (the suffix fits in MAX_LOGIN)."""
        login = self.login(person)
        yield login
        for number in range(2, MAX_CANDIDATES + 1):
            suffix = str(number)
            yield login[: MAX_LOGIN - len(suffix)] + suffix
