"""Persons for rule scenarios, and the rule verdict on them at an instant."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.models.person import Person
from shared.rules import PersonView, parse

TZ = ZoneInfo("Europe/Brussels")
AT = datetime(2026, 11, 2, 9, 0, tzinfo=TZ)


def affiliation(**over: Any) -> dict:
    body = {
        "source": "hr", "key": "job-1", "type": "employee", "organization": "FIN",
        "title": "Analyst", "start": "2024-01-01", "end": "2026-11-30", "attributes": {"fte": 0.8},
    }
    body.update(over)
    return body


def person(**over: Any) -> Person:
    body = {
        "id": "P0000001",
        "names": {"given": "Ada", "family": "Lovelace"},
        "birth_date": "1990-12-10",
        "emails": [{"address": "Ada.Lovelace@Example.edu"}, {"address": "ada@lab.example.org", "type": "home"}],
        "identifiers": [{"source": "hr", "source_id": "E1001"}],
        "affiliations": [affiliation()],
        "attributes": {"grade": 5, "campus": "North", "remote": True, "costCenter": "4100"},
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00",
    }
    body.update(over)
    return Person.model_validate(body)


def view(who: Person | None = None, at: datetime = AT, member_of: Iterable[str] = ()) -> PersonView:
    return PersonView.of(who or person(), at, TZ, set(member_of))


def holds(rule: str, who: Person | None = None, at: datetime = AT, member_of: Iterable[str] = ()) -> bool:
    return parse(rule).evaluate(view(who, at, member_of))
