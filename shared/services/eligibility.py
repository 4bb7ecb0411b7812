"""Eligibility: may a person make requests and recover accounts (docs/architecture.md §5, Suspension)?
Not while they are in a group whose policy is `suspend`, as of their last group evaluation.
One answer, used by `GET /persons/{id}/eligibility` and the request desk alike."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from shared.errors import PersonNotFound
from shared.models.person import Person
from shared.runtime import Runtime
from shared.services.provisioning import suspended_by
from shared.services.search import by_text, fold
from shared.store.persons import PersonRepository


@dataclass(frozen=True)
class Eligibility:
    can_request: bool
    can_recover: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def eligibility(rt: Runtime, person_id: str) -> Eligibility:
    """The registered person's eligibility now; PersonNotFound (404) for an unknown id."""
    if PersonRepository(rt.store).get(person_id) is None:
        raise PersonNotFound(f"no person with id {person_id!r}")
    group = suspended_by(rt, person_id)
    if group:
        return Eligibility(False, False, f"suspended: a member of {group}")
    return Eligibility(True, True, "no suspension applies")


def persons_with_email(rt: Runtime, address: str) -> list[Person]:
    """Registered persons holding exactly this address (case-insensitive)."""
    wanted = fold(address)
    found = by_text(PersonRepository(rt.store), address, limit=20)
    return [p for p in found if any(fold(e.address) == wanted for e in p.emails)]
