"""Account templates: what an account in a target is called and holds (docs/targets.md,
Account template; docs/console.md, The worklist says what to type).

A login template is text with placeholders — `{given}`, `{family}`, `{preferred}` (the
preferred name, else the given one), `{display}`, `{email}`, `{email_local}`, `{id}` (also
`{person_id}`), `{given_initial}` — each optionally cut to its first N characters
(`{given:1}{family}` → `alovelace`). The login is folded to ASCII (`anyascii`: "Zoë
Ŝtraße-Łukasz" → "zoe.strasse-lukasz"), lower-cased, apostrophes dropped, and every run of
other characters becomes one separator. On a collision the next candidate is taken:
`ada.lovelace`, `ada.lovelace2`, `ada.lovelace3`, …

One module for every use: directory connectors (`AccountTemplate(...).candidates(person)`:
the local part of a UPN, an LDAP `uid`) and the manual worklist's suggestion
(`suggest(settings, values, taken)`: the login free of those taken, and the attributes to
set). Pure functions, no I/O: callers supply the logins already taken.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from anyascii import anyascii
from pydantic import Field, StringConstraints, field_validator

from shared.models.base import Model
from shared.models.person import Person

DEFAULT_TEMPLATE = "{given}.{family}"
FIELDS = frozenset({"given", "family", "preferred", "display", "email", "email_local", "id", "person_id",
                    "given_initial"})
ATTRIBUTE_FIELDS = FIELDS | {"login"}  # an attribute may name the suggested login
MAX_LOGIN = 64  # the local part of a UPN and mailNickname allow 64 characters
MAX_CANDIDATES = 9999
_OTHER = re.compile(r"[^a-z0-9._-]+")
_SEPARATORS = re.compile(r"([._-])[._-]+")
AttributeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.;-]{0,127}$")]
TemplateText = Annotated[str, StringConstraints(min_length=1, max_length=500)]


def template_problem(template: str, fields: frozenset[str] = FIELDS, placeholder_needed: bool = True) -> str | None:
    """Why `template` is not a usable template, or None when it is."""
    try:
        parsed = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        return f"not a template: {error}"
    if placeholder_needed and not parsed:
        return "names no placeholder, e.g. {given}.{family}"
    unknown = sorted({name for name, _, _ in parsed} - fields)
    if unknown:
        return f"unknown placeholder {{{unknown[0]}}}; known: {', '.join(sorted(fields))}"
    if any(conv or (spec and not spec.isdigit()) for _, spec, conv in parsed):
        return "placeholders take no format spec or conversion, only a length such as {given:1}"
    return None


def render(template: str, values: dict[str, str]) -> str:
    """The template with each placeholder replaced (cut to its length when it has one)."""
    out = []
    for literal, name, spec, _ in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            value = values.get(name, "")
            out.append(value[: int(spec)] if spec else value)
    return "".join(out)


def fold(text: str) -> str:
    """ASCII, lower case, only letters, digits and `._-` (apostrophes dropped: O'Brien →
    obrien); separators not doubled or at the ends."""
    ascii_text = _OTHER.sub("-", anyascii(text).lower().replace("'", ""))
    return _SEPARATORS.sub(r"\1", ascii_text).strip("._-")


def values_of(person: Person) -> dict[str, str]:
    """The placeholder values of a person."""
    names, email = person.names, person.primary_email or ""
    return {
        "given": names.given, "family": names.family, "preferred": names.preferred or names.given,
        "display": names.display, "email": email, "email_local": email.split("@", 1)[0], "id": person.id,
        "person_id": person.id, "given_initial": names.given[:1],
    }  # fmt: skip


class AccountTemplate:
    """The login a template gives a person, and the candidates after a collision."""

    def __init__(self, template: str = DEFAULT_TEMPLATE, max_length: int = MAX_LOGIN):
        problem = template_problem(template)
        if problem:
            raise ValueError(f"account template {problem}")
        self.template, self.max_length = template, max_length

    def login(self, person: Person) -> str:
        return self.login_for(values_of(person))

    def login_for(self, values: dict[str, str]) -> str:
        login = fold(render(self.template, values))[: self.max_length].rstrip("._-")
        return login or fold(values.get("id", ""))[: self.max_length] or "user"

    def candidates(self, person: Person) -> Iterator[str]:
        """The login, then the login with 2, 3, … appended (the suffix fits in max_length)."""
        return numbered(self.login(person), self.max_length)


def numbered(login: str, max_length: int = MAX_LOGIN) -> Iterator[str]:
    yield login
    for number in range(2, MAX_CANDIDATES + 1):
        suffix = str(number)
        yield login[: max_length - len(suffix)] + suffix


class AccountTemplateSettings(Model):
    """A target's account template (`Target.account_template`): the login, its longest
    length, and the attributes to set (`name: template`)."""

    login: TemplateText = DEFAULT_TEMPLATE
    login_max_length: int = Field(default=MAX_LOGIN, ge=3, le=256)
    attributes: dict[AttributeName, TemplateText] = Field(default_factory=dict, max_length=50)

    @field_validator("login")
    @classmethod
    def _login_template(cls, value: str) -> str:
        problem = template_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("attributes")
    @classmethod
    def _attribute_templates(cls, value: dict[str, str]) -> dict[str, str]:
        for text in value.values():
            problem = template_problem(text, ATTRIBUTE_FIELDS, placeholder_needed=False)
            if problem:
                raise ValueError(problem)
        return value


@dataclass(frozen=True)
class AccountSuggestion:
    """What staff are asked to create: the login and the attributes to set."""

    login: str
    attributes: dict[str, str] = field(default_factory=dict)


def suggest(settings: AccountTemplateSettings, values: dict[str, str], taken: set[str]) -> AccountSuggestion:
    """The first candidate login free of `taken` (compared case-insensitively), and the attributes."""
    template = AccountTemplate(settings.login, settings.login_max_length)
    used = {t.casefold() for t in taken}
    login = next((c for c in numbered(template.login_for(values), settings.login_max_length) if c not in used), None)
    if login is None:
        raise ValueError(f"no free login for {template.login_for(values)!r} up to suffix {MAX_CANDIDATES}")
    attributes = {name: render(text, {**values, "login": login}) for name, text in settings.attributes.items()}
    return AccountSuggestion(login, attributes)
