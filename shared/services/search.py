"""Finding persons: by a source identifier (exact) and by name or email text — one search,
used by the API (`GET /persons`) and the console's person search alike."""

from __future__ import annotations

import re

from shared.errors import FieldError, InvalidInput, PersonNotFound
from shared.matching.profile import fold
from shared.models.person import Person, normalise_identifier
from shared.runtime import Runtime
from shared.services.paging import Page
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


def listed_tokens(tokens: set[str]) -> set[str]:
    """The tokens the index lists for a person: a token that begins another of them is left
    out (a prefix lookup for it finds the longer one: `ada` in `ada.lovelace@uni.edu`), so a
    person costs fewer entries and a search finds the same persons."""
    return {t for t in tokens if not any(o != t and o.startswith(t) for o in tokens)}


def reindexed(before: set[str], after: set[str]) -> tuple[set[str], set[str]]:
    """(entries to add, entries to remove) when a person's tokens go from `before` to
    `after`: removing every token gone, listed or not (an entry written before the index
    left prefixes out goes too), and those now left out (the longer one is added first)."""
    old, new = listed_tokens(before), listed_tokens(after)
    return new - old, (before - after) | (old - new)


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
    """Persons with a token starting with every query word, in the order (family, given, id)."""
    return ranked(repo, _words(q))[:max(1, min(limit, MAX_RESULTS))]


def _words(q: str) -> list[str]:
    """The query's words; InvalidInput (422) naming `q` when it has none long enough."""
    tokens = query_tokens(q)
    if not tokens:
        raise InvalidInput(
            "q needs a word of at least two letters",
            [FieldError("q", f"give at least one word of {MIN_TOKEN} or more characters")],
        )
    return tokens


def text_page(rt: Runtime, q: str, page: Page) -> tuple[list[Person], str | None]:
    """One page of the text search `q`. The search merges several index reads (one per query
    word, each bounded by SCAN_LIMIT), so it cannot read the store page by page: it ranks that
    bounded candidate set in a deterministic order (family, given, id, folded) and slices it;
    the cursor is the sort key of the page's first person."""
    repo = PersonRepository(rt.store)
    named = _named_identifier(repo, q)
    if named:
        return page.take([(None, named)])
    keyed = ((list(_rank(p)), p) for p in ranked(repo, _words(q)))
    return page.take((key, p) for key, p in keyed if key >= (page.cursor or []))


def _rank(person: Person) -> tuple[str, str, str]:
    return fold(person.names.family or ""), fold(person.names.given or ""), person.id


def ranked(repo: PersonRepository, tokens: list[str]) -> list[Person]:
    """Every person (of at most SCAN_LIMIT per word) with a token starting with each of `tokens`,
    in the order (family, given, id)."""
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
    found.sort(key=_rank)
    return found


def get_person(rt: Runtime, person_id: str) -> Person:
    """The registered person, or PersonNotFound (404)."""
    stored = PersonRepository(rt.store).get(person_id)
    if stored is None:
        raise PersonNotFound(f"no person with id {person_id!r}")
    return stored.person


def find_persons(rt: Runtime, *, source: str | None = None, source_id: str | None = None, q: str | None = None,
                 limit: int = 20) -> list[Person]:
    """By `source` and `source_id` together (exact), or by text `q`; a `q` of the form
    `source:source_id` finds that identifier's person first. InvalidInput (422) naming the
    missing field otherwise."""
    repo = PersonRepository(rt.store)
    if source or source_id:
        if not (source and source_id):
            missing = "source_id" if source else "source"
            raise InvalidInput(f"{missing} is required with the other", [FieldError(missing, "required with the other")])
        found = by_identifier(repo, source, source_id)
        return [found] if found else []
    if not q:
        raise InvalidInput("give source and source_id, or q", [FieldError("q", "required")])
    named = _named_identifier(repo, q)
    return [named] if named else by_text(repo, q, limit)


def _named_identifier(repo: PersonRepository, q: str) -> Person | None:
    """The person of `source:source_id` in `q`, when it has that form and such a person exists."""
    source, colon, source_id = q.partition(":")
    if colon and source and source_id and " " not in q and "@" not in q:
        return by_identifier(repo, source, source_id)
    return None
