"""Finding persons: by a source identifier (exact) and by name or email text."""

from __future__ import annotations

import re

from shared.errors import FieldError, InvalidInput
from shared.matching.profile import fold
from shared.models.person import Person, normalise_identifier
from shared.store.persons import PersonRepository

MIN_TOKEN = 2
MAX_RESULTS = 50
SCAN_LIMIT = 1000
_WORD = re.compile(r"[^\W_]+", re.UNICODE)




def person_tokens(person: Person) -> set[str]:
    """What text search finds a person by: name words, email addresses and their parts."""
    names = person.names
    words = f"{names.given or ''} {names.family or ''} {names.preferred or ''}"
    tokens = set(_WORD.findall(fold(words)))
    for email in person.emails:
        address = fold(email.address)
        tokens.add(address)
        tokens.update(_WORD.findall(address.split("@", 1)[0]))
    return {t for t in tokens if len(t) >= MIN_TOKEN}


def query_tokens(q: str) -> list[str]:
    """Words of a query; an email address stays whole."""
    tokens: list[str] = []
    for part in fold(q).split():
        tokens.extend([part] if "@" in part else _WORD.findall(part))
    return [t for t in tokens if len(t) >= MIN_TOKEN]


def by_identifier(repo: PersonRepository, source: str, source_id: str) -> Person | None:
    """The person holding the identifier, normalised as registration stores it (a spelling
    stored before normalisation is still found as given)."""
    given = (source, source_id)
    person_id = repo.owner_of(normalise_identifier(source), normalise_identifier(source_id), given)
    stored = repo.get(person_id) if person_id else None
    return stored.person if stored else None


def by_text(repo: PersonRepository, q: str, limit: int = 20) -> list[Person]:
    """Persons with a token starting with every query word, best (fewest extra words) first."""
    tokens = query_tokens(q)
    if not tokens:
        raise InvalidInput(
            "q needs a word of at least two letters",
            [FieldError("q", f"give at least one word of {MIN_TOKEN} or more characters")],
        )
    limit = max(1, min(limit, MAX_RESULTS))
    candidates: set[str] | None = None
    for token in sorted(set(tokens), key=len, reverse=True):
        ids = repo.ids_with_token_prefix(token, SCAN_LIMIT)
        candidates = ids if candidates is None else candidates & ids
        if not candidates:
            return []
    found = []
    for person in repo.get_many(sorted(candidates)):
        own = person_tokens(person)
        if all(any(t.startswith(q) for t in own) for q in tokens):
            found.append(person)
    found.sort(key=lambda p: (fold(p.names.family or ""), fold(p.names.given or ""), p.id))
    return found[:limit]
