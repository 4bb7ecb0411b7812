"""What the pending-match and merge pages show: the held record or a person beside each
candidate, field by field, with the matcher's level and weight for each field."""

from __future__ import annotations

from typing import Any

from shared.errors import PersonNotFound
from shared.models.person import Person, PersonUpdate
from shared.runtime import Runtime
from shared.services import pending_matches
from shared.store.pending import PendingRepository
from shared.store.persons import PersonRepository

SHOWN = 3
ROWS = (("given", "Given name"), ("family", "Family name"), ("birth_date", "Birth date"), ("email", "Emails"),
        ("street", "Street"), ("locality", "Locality"), ("postcode", "Postcode"), ("region", "Region"),
        ("country", "Country"), ("national_id", "National id"), ("identifiers", "Identifiers"))


def facts(person: Person | PersonUpdate) -> dict[str, str]:
    """The compared fields as text; the national id only says whether there is one."""
    names, address = person.names, person.address
    emails = [e.address for e in person.emails or []]
    idents = ([f"{i.source}:{i.source_id}" for i in person.identifiers] if isinstance(person, Person)
              else [f"{person.source}:{person.source_id}"])
    return {
        "given": (names.given if names else None) or "—", "family": (names.family if names else None) or "—",
        "birth_date": person.birth_date.isoformat() if person.birth_date else "—",
        "email": ", ".join(emails) or "—",
        **{part: (getattr(address, part) if address else None) or "—"
           for part in ("street", "locality", "postcode", "region", "country")},
        "national_id": "on record (kept as a keyed hash)" if person.national_id_hash else "—",
        "identifiers": ", ".join(idents),
    }


def match_page(rt: Runtime, match_id: str) -> dict[str, Any]:
    held = pending_matches.get_match(rt, match_id)
    record = PersonUpdate.model_validate(held.update)
    repo = PersonRepository(rt.store)
    columns = []
    for candidate in held.candidates[:SHOWN]:
        stored = repo.get(candidate["person_id"])
        if stored is not None:
            levels = {f["field"]: f for f in candidate["fields"]}
            columns.append({"person": stored.person, "facts": facts(stored.person), "levels": levels,
                            "score": candidate["score"], "weight": candidate["weight"]})
    return {"held": held, "record": facts(record), "columns": columns, "rows": ROWS,
            "trail": PendingRepository(rt.store).trail(held.id)[::-1]}


def merge_page(rt: Runtime, person_id: str, other_id: str | None) -> dict[str, Any]:
    repo = PersonRepository(rt.store)
    stored = repo.get(person_id)
    if stored is None:
        raise PersonNotFound(f"no person with id {person_id!r}")
    other = repo.get(other_id) if other_id else None
    return {"person": stored.person, "mine": facts(stored.person), "other": other.person if other else None,
            "theirs": facts(other.person) if other else None, "rows": ROWS,
            "merged": [r for r, _ in PendingRepository(rt.store).merges_of(person_id) if r.state == "merged"]}
