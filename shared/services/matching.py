"""Attribute matching (as in the TAP ID Match protocol; docs/matching.md): who might a
source record already be? Candidates come from blocking-key index entities, are ranked
by Fellegi–Sunter weight (never cut alphabetically), and each is explained field by field.
"""

from __future__ import annotations

import time
import weakref
from datetime import date
from typing import Annotated, Literal

from pydantic import EmailStr, Field, StringConstraints, field_validator

from shared.errors import FieldError, InvalidInput
from shared.matching import national_id
from shared.matching.blocking import query_keys
from shared.matching.profile import Profile, profile_of
from shared.matching.score import Frequencies, Scored, outcome, score
from shared.matching.weights import Model, shipped
from shared.models.base import Model as Schema
from shared.models.person import Address, NationalId, Person, PersonUpdate
from shared.runtime import Runtime
from shared.store.matchindex import MatchIndex
from shared.store.port import Table, TableStore

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MAX_CANDIDATES = 10
BLOCK_LIMIT = 200  # a block larger than this is too common to tell anyone apart: skipped
HEAVY_TTL = 600.0  # seconds a block found too large is skipped without reading it again
REGISTRY_TTL = 60.0  # seconds the registry size is reused for frequency adjustment


class MatchQuery(Schema):
    given: Name | None = None
    family: Name | None = None
    birth_date: date | None = None
    emails: list[EmailStr] = Field(default_factory=list, max_length=20)
    address: Address | None = None
    national_id: NationalId | None = None

    @field_validator("national_id")
    @classmethod
    def _national_id_form(cls, value: str | None) -> str | None:
        return None if value is None else national_id.normalised(value)


class FieldExplanation(Schema):
    field: str
    level: Literal["agree", "partial", "disagree"]
    weight: float


class Candidate(Schema):
    person_id: str
    score: float = Field(description="probability that this is the same person, 0..1")
    weight: float = Field(description="Fellegi–Sunter weight: the sum of the fields' log2(m/u)")
    matched: list[str] = Field(description="the fields that agree")
    fields: list[FieldExplanation]
    swapped_names: bool = False


class Match(Schema):
    outcome: Literal["exact", "possible", "none"]
    candidates: list[Candidate]
    skipped_blocks: int = Field(0, description="blocking keys too common to read (docs/matching.md)")


def query_profile(query: MatchQuery, key: str | None) -> Profile:
    """The query's profile; its national id hashed with the registry's key."""
    nid = None
    if query.national_id:
        if not key:
            raise InvalidInput("national_id cannot be matched: ROSTER_NATIONAL_ID_KEY is not set",
                               [FieldError("national_id", "not accepted by this registry")])
        nid = national_id.keyed_hash(query.national_id, key)
    return profile_of(given=query.given, family=query.family, birth_date=query.birth_date,
                      emails=list(query.emails), national_id_hash=nid, address=query.address)


def person_profile(person: Person) -> Profile:
    return profile_of(given=person.names.given, family=person.names.family, birth_date=person.birth_date,
                      emails=[e.address for e in person.emails], national_id_hash=person.national_id_hash,
                      address=person.address, sources=[i.source for i in person.identifiers])


def update_profile(update: PersonUpdate) -> Profile:
    """A new source record's profile (its national id already protected)."""
    names = update.names
    return profile_of(given=names.given if names else None, family=names.family if names else None,
                      birth_date=update.birth_date, emails=[e.address for e in update.emails or []],
                      national_id_hash=update.national_id_hash, address=update.address)


def match(store: TableStore, query: MatchQuery, key: str | None) -> Match:
    """Candidates for a query (422 naming the fields when it has nothing to block on)."""
    profile = query_profile(query, key)
    if not query_keys(profile):
        raise InvalidInput("nothing to match on", [FieldError(
            "family", "give a birth date, an email, a national id, or a family name with a given name or postcode")])
    return find(store, profile)


def find(store: TableStore, profile: Profile, exclude_source: str | None = None,
         model: Model | None = None) -> Match:
    """Score every candidate of the profile's blocks; `exclude_source` leaves out persons
    who already hold an identifier of that source (a source never sends one person twice)."""
    model = model or shipped()
    index = MatchIndex(store)
    candidates, skipped = _candidates(index, profile)
    freq = Frequencies(given=index.frequency("given", profile.given), family=index.frequency("family", profile.family),
                       registry=_registry_size(index))
    ranked = sorted((score(pid, profile, c, model, freq) for pid, c in candidates.items()
                     if not (exclude_source and exclude_source in c.sources)), key=lambda s: (-s.weight, s.person_id))
    shown = [s for s in ranked[:MAX_CANDIDATES] if s.weight >= model.lower]
    return Match(outcome=outcome(ranked, model), candidates=[_candidate(s, model) for s in shown],
                 skipped_blocks=skipped)


def _candidates(index: MatchIndex, profile: Profile) -> tuple[dict[str, Profile], int]:
    """The profiles of every block of the query's keys; blocks over BLOCK_LIMIT are skipped
    (and remembered as such for HEAVY_TTL, so a common key costs one read, not one a query)."""
    found: dict[str, str] = {}
    skipped = 0
    for key in sorted(query_keys(profile)):
        if _heavy.known(index, key):
            skipped += 1
            continue
        rows = list(index.rows(key, BLOCK_LIMIT + 1))
        if len(rows) > BLOCK_LIMIT:
            _heavy.remember(index, key)
            skipped += 1
            continue
        for person_id, packed in rows:
            found.setdefault(person_id, packed)
    return {person_id: Profile.unpack(packed) for person_id, packed in found.items()}, skipped


class _HeavyKeys:
    """Blocking keys recently found too large, per table, forgotten after HEAVY_TTL."""

    LIMIT = 100_000

    def __init__(self) -> None:
        self.until: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def known(self, index: MatchIndex, key: str) -> bool:
        until = self.until.get(_stable(index.blocks), {}).get(key)
        return until is not None and until > time.monotonic()

    def remember(self, index: MatchIndex, key: str) -> None:
        keys = self.until.setdefault(_stable(index.blocks), {})
        if len(keys) >= self.LIMIT:
            keys.clear()
        keys[key] = time.monotonic() + HEAVY_TTL


def _stable(table: Table) -> Table:
    """What the caches are kept per: the stored table behind an optimistic unit's view of it
    (shared/store/optimistic.py), so they outlive the unit."""
    return getattr(table, "backing", table)


_heavy = _HeavyKeys()
_sizes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _registry_size(index: MatchIndex) -> int:
    """The registry's size, re-read at most once a REGISTRY_TTL per table."""
    now = time.monotonic()
    cached = _sizes.get(_stable(index.counts))
    if cached is None or now - cached[0] > REGISTRY_TTL:
        cached = _sizes[_stable(index.counts)] = (now, index.registry_size())
    return cached[1]


def _candidate(scored: Scored, model: Model) -> Candidate:
    return Candidate(
        person_id=scored.person_id, score=round(scored.probability(model), 4), weight=round(scored.weight, 3),
        matched=[f.field for f in scored.fields if f.level == "agree"],
        fields=[FieldExplanation(field=f.field, level=f.level, weight=round(f.weight, 3)) for f in scored.fields],
        swapped_names=scored.swapped,
    )


def match_person(rt: Runtime, query: MatchQuery) -> Match:
    """`match` against the registry of the runtime's store, with its national-id key."""
    return match(rt.store, query, rt.settings.national_id_key)
