"""A person as a rule sees it at one instant, with its values folded once for every rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.models.person import Person
from shared.rules.nodes import numeric

_NO_NUMBERS: dict[str, float] = {}
Atom = tuple[str, object]  # (property path, casefolded text or number): what an index looks up


class Record:
    """Values of one thing a clause reads (a person, an affiliation, one string of a list).

    `text` holds each value's casefolded text, `orig` the text as stored (for -match), `num`
    the number of attribute values that are numbers or read as one. A missing key is null.
    """

    __slots__ = ("text", "orig", "num")

    def __init__(self, values: Mapping[str, str | None], attributes: Mapping[str, Any]):
        text: dict[str, str] = {}
        orig: dict[str, str] = {}
        for key, value in values.items():
            if value is not None:
                orig[key] = value
                text[key] = value.casefold()
        num: dict[str, float] = {}
        for name, value in attributes.items():
            if value is None:
                continue
            key = f"attributes.{name.casefold()}"
            if isinstance(value, bool):
                shown = "true" if value else "false"
            elif isinstance(value, (int, float)):
                shown = str(value)
                num[key] = float(value)
            else:
                shown = str(value)
                if (number := numeric(shown)) is not None:
                    num[key] = number
            orig[key] = shown
            text[key] = shown.casefold()
        self.text, self.orig, self.num = text, orig, num or _NO_NUMBERS


class Item(Record):
    """One string of a collection, read as `_`."""

    __slots__ = ()

    def __init__(self, value: str):
        self.text, self.orig, self.num = {"_": value.casefold()}, {"_": value}, _NO_NUMBERS


class PersonView(Record):
    """What a rule sees: a person at an instant, in the institution's time zone.

    Only affiliations active at the instant are seen; `status` is "active" when there is one.
    Dates (birthDate, affiliation start/end) are calendar days as ISO text, an instant being
    taken as its day in the time zone. `member_of` holds the ids of the groups the person is
    in (for composite rules), compared case-insensitively.
    """

    __slots__ = ("person_id", "at", "colls", "_keys")

    def __init__(self, person_id: str, at: datetime, values: Mapping[str, str | None],
                 attributes: Mapping[str, Any], affiliations: Iterable[Record],
                 emails: Iterable[str] = (), sources: Iterable[str] = (), member_of: Iterable[str] = ()):
        super().__init__(values, attributes)
        self.person_id, self.at = person_id, at
        self.colls: dict[str, tuple[Record, ...]] = {
            "affiliations": tuple(affiliations),
            "emails": tuple(Item(e) for e in emails),
            "sources": tuple(Item(s) for s in sources),
            "memberOf": tuple(Item(g) for g in member_of),
        }
        self._keys: tuple[Atom, ...] | None = None

    @classmethod
    def of(cls, person: Person, at: datetime, tz: ZoneInfo,
           member_of: Iterable[str] = frozenset()) -> PersonView:
        if at.tzinfo is None:
            raise ValueError("the evaluation instant needs a time zone")
        active = [a for a in person.affiliations if a.active_at(at, tz)]
        affiliations = [
            Record({"type": str(a.type), "organization": a.organization, "title": a.title,
                    "source": a.source, "start": day(a.start, tz), "end": day(a.end, tz)}, a.attributes)
            for a in active
        ]
        emails = [e.address for e in person.emails]
        sources = dict.fromkeys([*person.sources, *(i.source for i in person.identifiers)])
        values = {
            "id": person.id,
            "givenName": person.names.given,
            "familyName": person.names.family,
            "displayName": person.names.display,
            "email": emails[0] if emails else None,
            "birthDate": day(person.birth_date, tz),
            "status": "active" if active else "inactive",
        }
        return cls(person.id, at, values, person.attributes, affiliations, emails, sources, member_of)

    @property
    def keys(self) -> tuple[Atom, ...]:
        """Every (path, value) this person has, for RuleIndex: scalars, attributes, list values."""
        if self._keys is None:
            keys: list[Atom] = []
            _atoms(keys, self, _PERSON_PATHS, "person.")
            for record in self.colls["affiliations"]:
                _atoms(keys, record, _AFFILIATION_PATHS, "person.affiliations.")
            for name in ("emails", "sources", "memberOf"):
                path = _PERSON_PATHS.get(name) or _PERSON_PATHS.setdefault(name, f"person.{name}")
                keys.extend((path, item.text["_"]) for item in self.colls[name])
            self._keys = tuple(keys)
        return self._keys

    def __repr__(self) -> str:
        return f"PersonView({self.person_id!r} at {self.at.isoformat()})"


_PERSON_PATHS: dict[str, str] = {}
_AFFILIATION_PATHS: dict[str, str] = {}


def _atoms(keys: list[Atom], record: Record, paths: dict[str, str], prefix: str) -> None:
    for table in (record.text, record.num):
        for key, value in table.items():
            path = paths.get(key)
            if path is None:  # one shared string per path, its hash computed once
                path = paths.setdefault(key, prefix + key) if len(paths) < 10_000 else prefix + key
            keys.append((path, value))


def day(moment: date | datetime | None, tz: ZoneInfo) -> str | None:
    """A moment's calendar day in `tz`, as ISO text (None stays None)."""
    if moment is None:
        return None
    if isinstance(moment, datetime):
        return moment.astimezone(tz).date().isoformat()
    return moment.isoformat()
