"""Person, affiliation and the update a source sends (docs/architecture.md §5)."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.matching import national_id
from shared.models.base import Attributes, Line, Model, Moment, moment_end, moment_start
from shared.models.email import EmailAddressText

Text = Line  # names, organisations, titles: one line each


def normalise_identifier(value: Any) -> Any:
    """One identifier, one spelling (docs/security.md §3): format characters (zero-width
    space, joiners, soft hyphen, BOM) removed, Unicode NFKC (full-width `Ｅ１００１` → `E1001`),
    surrounding white space trimmed. Case is kept and significant: `E1001` ≠ `e1001`."""
    if not isinstance(value, str):
        return value
    if value.isascii():  # no format characters, and NFKC leaves ASCII as it is
        return value.strip()
    visible = "".join(c for c in value if unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", visible).strip()


SourceName = Annotated[
    str, BeforeValidator(normalise_identifier), StringConstraints(min_length=1, max_length=100)
]
SourceId = Annotated[
    str, BeforeValidator(normalise_identifier), StringConstraints(min_length=1, max_length=256)
]
NationalId = Annotated[str, StringConstraints(min_length=4, max_length=40)]
NationalIdHash = Annotated[str, StringConstraints(pattern=national_id.HASH.pattern)]


class AffiliationType(StrEnum):
    employee = "employee"
    faculty = "faculty"
    staff = "staff"
    student = "student"
    affiliate = "affiliate"
    guest = "guest"
    contractor = "contractor"


class Names(Model):
    """A person's names; one of given and family may be missing (a mononym, a record that
    lacks one), never both."""

    given: Text | None = None
    family: Text | None = None
    preferred: Text | None = None

    @model_validator(mode="after")
    def _given_or_family(self) -> Names:
        if not (self.given or self.family):
            raise ValueError("give a given name, a family name or both")
        return self

    @property
    def display(self) -> str:
        return " ".join(n for n in (self.preferred or self.given, self.family) if n)


class Address(Model):
    """A postal address as HR systems send it; every part optional, no other parts."""

    street: Text | None = None
    locality: Text | None = None
    postcode: Annotated[str, StringConstraints(min_length=1, max_length=20)] | None = None
    region: Text | None = None
    country: Text | None = None


class EmailAddress(Model):
    """A stored address: checked once, when it came in (see EmailIn)."""

    address: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    type: Annotated[str, StringConstraints(min_length=1, max_length=50)] = "work"


class EmailIn(EmailAddress):
    address: EmailAddressText  # EmailStr's check and normalisation (shared.models.email)


class Identifier(Model):
    source: SourceName
    source_id: SourceId


class AffiliationIn(Model):
    """An affiliation as a source sends it; the source is the update's."""

    key: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    type: AffiliationType
    organization: Text
    title: Text | None = None
    start: Moment
    end: Moment | None = None
    attributes: Attributes

    @field_validator("end")
    @classmethod
    def _end_not_before_start(cls, end: date | datetime | None, info: ValidationInfo):
        start = info.data.get("start")
        if end is not None and start is not None and _ends_before_start(start, end):
            raise ValueError("end is before start")
        return end


class Affiliation(AffiliationIn):
    source: SourceName

    def starts_at(self, tz: ZoneInfo) -> datetime:
        return moment_start(self.start, tz)

    def ends_at(self, tz: ZoneInfo) -> datetime | None:
        """The first instant the affiliation is over (None: open-ended)."""
        return None if self.end is None else moment_end(self.end, tz)

    def active_at(self, instant: datetime, tz: ZoneInfo) -> bool:
        ends = self.ends_at(tz)
        return self.starts_at(tz) <= instant and (ends is None or instant < ends)


class SourceStamp(Model):
    """The last update applied from one source."""

    as_of: AwareDatetime
    applied_at: AwareDatetime


class Person(Model):
    id: str
    names: Names
    birth_date: date | None = None
    emails: list[EmailAddress] = Field(default_factory=list)
    address: Address | None = None
    national_id_hash: NationalIdHash | None = None
    identifiers: list[Identifier] = Field(default_factory=list)
    affiliations: list[Affiliation] = Field(default_factory=list)
    attributes: Attributes
    sources: dict[str, SourceStamp] = Field(default_factory=dict)
    created_at: AwareDatetime
    updated_at: AwareDatetime
    version: int = 1
    merged_into: str | None = Field(default=None, description="set when merged into that person (docs/matching.md)")

    def active_at(self, instant: datetime, tz: ZoneInfo) -> bool:
        return any(a.active_at(instant, tz) for a in self.affiliations)

    @property
    def primary_email(self) -> str | None:
        return self.emails[0].address if self.emails else None


class PersonUpdate(Model):
    """What one source says about one person, as of its own timestamp."""

    source: SourceName
    source_id: SourceId
    as_of: AwareDatetime
    names: Names | None = None
    birth_date: date | None = None
    emails: list[EmailIn] | None = Field(default=None, max_length=20)
    address: Address | None = None
    national_id: NationalId | None = Field(default=None, description=(
        "a national / social-security number: checked, then kept only as a keyed hash (docs/matching.md)"))
    national_id_hash: NationalIdHash | None = Field(default=None, description=(
        "what Roster keeps in place of national_id; set by Roster, not by a source"))
    attributes: Attributes
    affiliations: list[AffiliationIn] = Field(default_factory=list, max_length=200)
    _given: tuple[Any, Any] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_given_identifier(cls, data: Any, handler: Any) -> PersonUpdate:
        update = handler(data)
        if isinstance(data, dict):
            update._given = (data.get("source"), data.get("source_id"))
        return update

    @property
    def given_identifier(self) -> tuple[str, str] | None:
        """(source, source_id) as the source spelt them, when that differs from the
        normalised pair: identifiers stored before normalisation are still found by it."""
        given = self._given
        if given is None or given == (self.source, self.source_id):
            return None
        if not all(isinstance(part, str) for part in given):
            return None
        return given

    @field_validator("national_id")
    @classmethod
    def _national_id_form(cls, value: str | None) -> str | None:
        return None if value is None else national_id.normalised(value)

    def protected(self, key: str | None) -> PersonUpdate:
        """The update with its national id replaced by the keyed hash (ValueError without a key)."""
        if self.national_id is None:
            return self
        if not key:
            raise ValueError("ROSTER_NATIONAL_ID_KEY is not set: national_id cannot be accepted")
        return self.model_copy(update={"national_id": None,
                                       "national_id_hash": national_id.keyed_hash(self.national_id, key)})

    @model_validator(mode="after")
    def _unique_affiliation_keys(self) -> PersonUpdate:
        keys = [a.key for a in self.affiliations]
        if len(keys) != len(set(keys)):
            raise ValueError("affiliation keys must be unique within a source")
        return self

    @property
    def session_id(self) -> str:
        return f"{self.source}:{self.source_id}"


def _ends_before_start(start: date | datetime, end: date | datetime) -> bool:
    """Two instants compare exactly; otherwise by calendar day (a date end is inclusive)."""
    if isinstance(start, datetime) and isinstance(end, datetime):
        return end < start
    day = lambda v: v.date() if isinstance(v, datetime) else v  # noqa: E731
    return day(end) < day(start)
