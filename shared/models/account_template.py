"""Account templates: what an account in a target should be called and hold (docs/architecture.md §5).

A target's template turns a person into a suggested account: a login such as
`{given}.{family}` folded to lower-case ASCII (`Zoë Ørsted` → `zoe.orsted`), a number
added on collision (`ada.lovelace2`), and attributes to set (`displayName: "{given}
{family}"`). Placeholders are `{given} {family} {preferred} {display} {email}
{email_local} {id}`, optionally cut to their first N characters: `{given:1}{family}` →
`alovelace`. Attributes may also use `{login}`, the suggested login.

Pure functions, no I/O: the worklist shows the suggestion, connectors (UPNs, DNs) can
render the same template, and the caller supplies the logins already taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated

from anyascii import anyascii
from pydantic import Field, StringConstraints, field_validator

from shared.models.base import Model
from shared.models.person import Person

PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::(\d{1,2}))?\}")
FIELDS = ("given", "family", "preferred", "display", "email", "email_local", "id")
ATTRIBUTE_FIELDS = (*FIELDS, "login")
LOGIN_KEEP = re.compile(r"[^a-z0-9._-]+")
SEPARATORS = "._-"
MAX_SUFFIX = 9999
AttributeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.;-]{0,127}$")]
TemplateText = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class AccountTemplate(Model):
    """A target's account template (`Target.account_template`)."""

    login: TemplateText = "{given}.{family}"
    login_max_length: int = Field(default=64, ge=3, le=256)
    attributes: dict[AttributeName, TemplateText] = Field(default_factory=dict, max_length=50)

    @field_validator("login")
    @classmethod
    def _login_placeholders(cls, value: str) -> str:
        check_placeholders(value, FIELDS)
        return value

    @field_validator("attributes")
    @classmethod
    def _attribute_placeholders(cls, value: dict[str, str]) -> dict[str, str]:
        for text in value.values():
            check_placeholders(text, ATTRIBUTE_FIELDS)
        return value


@dataclass(frozen=True)
class AccountSuggestion:
    """What staff are asked to create: the login and the attributes to set."""

    login: str
    attributes: dict[str, str] = field(default_factory=dict)


def check_placeholders(text: str, allowed: tuple[str, ...]) -> None:
    """ValueError naming the first unknown placeholder or a stray brace."""
    for match in PLACEHOLDER.finditer(text):
        if match.group(1) not in allowed:
            raise ValueError(f"unknown placeholder {{{match.group(1)}}}; use one of "
                             + ", ".join(f"{{{f}}}" for f in allowed))
    if "{" in PLACEHOLDER.sub("", text) or "}" in PLACEHOLDER.sub("", text):
        raise ValueError("a brace that is not part of a placeholder such as {given}")


def values_of(person: Person) -> dict[str, str]:
    """The placeholder values of a person."""
    email = person.primary_email or ""
    return {
        "given": person.names.given, "family": person.names.family,
        "preferred": person.names.preferred or person.names.given, "display": person.names.display,
        "email": email, "email_local": email.split("@", 1)[0], "id": person.id,
    }  # fmt: skip


def render(text: str, values: dict[str, str]) -> str:
    """The template with each placeholder replaced (cut to its length when it has one)."""

    def value(match: re.Match) -> str:
        found = values.get(match.group(1), "")
        return found[: int(match.group(2))] if match.group(2) else found

    return PLACEHOLDER.sub(value, text)


def fold_login(text: str) -> str:
    """Lower-case ASCII letters, digits and `. _ -`; no separator at either end or twice."""
    folded = LOGIN_KEEP.sub("", anyascii(text).lower().replace(" ", "-"))
    folded = re.sub(r"([._-])[._-]+", r"\1", folded)
    return folded.strip(SEPARATORS)


def suggest(template: AccountTemplate, values: dict[str, str], taken: set[str]) -> AccountSuggestion:
    """The login to create (free of `taken`, compared case-insensitively) and the attributes."""
    base = fold_login(render(template.login, values))[: template.login_max_length].strip(SEPARATORS)
    base = base or fold_login(values.get("id", "")) or "user"
    login = free_login(base, {t.casefold() for t in taken}, template.login_max_length)
    attributes = {name: render(text, {**values, "login": login}) for name, text in template.attributes.items()}
    return AccountSuggestion(login, attributes)


def free_login(base: str, taken: set[str], max_length: int) -> str:
    """`base`, or `base2`, `base3` … (cut so the number fits) — the first not in `taken`."""
    if base not in taken:
        return base
    for n in range(2, MAX_SUFFIX + 1):
        candidate = base[: max_length - len(str(n))] + str(n)
        if candidate not in taken:
            return candidate
    raise ValueError(f"no free login for {base!r} up to suffix {MAX_SUFFIX}")
