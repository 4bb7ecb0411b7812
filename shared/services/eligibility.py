"""Eligibility: may a person make requests and recover accounts (ARCHITECTURE §5, Suspension)?

A first implementation: a person is suspended while they have an active static membership
of `suspend-immediate`, read where the groups service keeps memberships: table
`memberships`, partition `person:<person id>`, row `<group id>` (or `m|<group id>`), with
optional `start`/`end` as properties or inside the packed JSON document. When the groups
service lands, `is_suspended` asks it instead (any group whose policy is `suspend`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shared.models.base import moment_end, moment_start, parse_moment
from shared.models.person import Person
from shared.runtime import Runtime
from shared.services.search import by_text, fold
from shared.store.documents import unpack_json
from shared.store.persons import PersonRepository

SUSPEND_GROUP = "suspend-immediate"
MEMBERSHIPS = "memberships"


@dataclass(frozen=True)
class Eligibility:
    can_request: bool
    can_recover: bool
    reason: str


def eligibility(rt: Runtime, person_id: str) -> Eligibility:
    suspended = is_suspended(rt, person_id)
    if suspended:
        return Eligibility(False, False, suspended)
    return Eligibility(True, True, "no suspension applies")


def is_suspended(rt: Runtime, person_id: str) -> str | None:
    """Why the person is suspended now, or None."""
    table = rt.store.table(MEMBERSHIPS)
    partition = f"person:{person_id}"
    entity = table.get(partition, SUSPEND_GROUP) or table.get(partition, f"m|{SUSPEND_GROUP}")
    if entity is None:
        return None
    props = entity.properties
    dates = unpack_json(props) if "doc" in props else props
    now, tz = rt.clock.now(), rt.settings.tz
    start = _instant(dates.get("start"), tz, end=False)
    end = _instant(dates.get("end"), tz, end=True)
    if (start is not None and start > now) or (end is not None and end <= now):
        return None
    return f"suspended: a member of the group {SUSPEND_GROUP}"


def persons_with_email(rt: Runtime, address: str) -> list[Person]:
    """Registered persons holding exactly this address (case-insensitive)."""
    wanted = fold(address)
    found = by_text(PersonRepository(rt.store), address, limit=20)
    return [p for p in found if any(fold(e.address) == wanted for e in p.emails)]


def _instant(value: Any, tz, *, end: bool) -> datetime | None:
    """A stored start/end: a datetime, or an ISO 8601 date/instant (a date end is inclusive)."""
    if value is None or value == "":
        return None
    moment: date | datetime = parse_moment(value)
    return moment_end(moment, tz) if end else moment_start(moment, tz)
