"""Attribute matching (as in the TAP ID Match protocol): before a new source record becomes
a person, who might it already be? Candidates with scores and an outcome."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import EmailStr, Field, StringConstraints, model_validator

from shared.models.base import Model
from shared.models.person import Person
from shared.runtime import Runtime
from shared.services.search import by_text, fold
from shared.store.persons import PersonRepository

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
WEIGHTS = {"email": 0.5, "birth_date": 0.3, "family": 0.2, "given": 0.15}
POSSIBLE = 0.3
MAX_CANDIDATES = 10


class MatchQuery(Model):
    given: Name | None = None
    family: Name | None = None
    birth_date: date | None = None
    emails: list[EmailStr] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _something_to_match(self) -> MatchQuery:
        if not (self.family or self.emails):
            raise ValueError("give at least family or emails")
        return self


class Candidate(Model):
    person_id: str
    score: float
    matched: list[str]


class Match(Model):
    outcome: Literal["exact", "possible", "none"]
    candidates: list[Candidate]


def match(repo: PersonRepository, query: MatchQuery) -> Match:
    """`exact`: one candidate whose email and birth date (or email and full name) agree, with
    no conflicting birth date; `possible`: candidates scoring at least 0.3 (a full name alone); else `none`."""
    found: dict[str, Person] = {}
    for address in query.emails:
        found.update((p.id, p) for p in by_text(repo, address, 50))
    if query.family:
        found.update((p.id, p) for p in by_text(repo, query.family, 50))
    scored = sorted((c for p in found.values() if (c := _score(p, query)).score >= POSSIBLE),
                    key=lambda c: (-c.score, c.person_id))[:MAX_CANDIDATES]
    exact = [c for c in scored if "email" in c.matched and ("birth_date" in c.matched or
             {"family", "given"} <= set(c.matched)) and "birth_date_differs" not in c.matched]
    outcome = "exact" if len(exact) == 1 else "possible" if scored else "none"
    return Match(outcome=outcome, candidates=scored)


def _score(person: Person, query: MatchQuery) -> Candidate:
    matched, score = [], 0.0
    if {fold(e) for e in query.emails} & {fold(e.address) for e in person.emails}:
        matched.append("email")
    if query.family and fold(query.family) == fold(person.names.family):
        matched.append("family")
    if query.given and fold(query.given) in {fold(person.names.given), fold(person.names.preferred or "")}:
        matched.append("given")
    if query.birth_date and person.birth_date:
        matched.append("birth_date" if query.birth_date == person.birth_date else "birth_date_differs")
    score = sum(WEIGHTS.get(m, 0.0) for m in matched) - (0.5 if "birth_date_differs" in matched else 0.0)
    return Candidate(person_id=person.id, score=round(max(0.0, min(1.0, score)), 2), matched=matched)


def match_person(rt: Runtime, query: MatchQuery) -> Match:
    """`match` against the registered persons of the runtime's store."""
    return match(PersonRepository(rt.store), query)
