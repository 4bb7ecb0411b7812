"""Eligibility: may a person make requests and recover accounts (docs/architecture.md §5, Suspension)?
Not while they are in a group whose policy is `suspend`, as of their last group evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shared.models.base import moment_end, moment_start, parse_moment
from shared.models.person import Person
from shared.runtime import Runtime
from shared.services.search import by_text, fold
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
    """Why the person is suspended now (a member of a group whose policy is `suspend`), or None."""
    from shared.services.provisioning import suspended_by

    group = suspended_by(rt, person_id)
    return f"the person is suspended (a member of the group {group})" if group else None


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
