"""Field comparisons of two profiles: each field agrees, partly agrees or disagrees
(None: one side does not have it). rapidfuzz measures strings, jellyfish codes sounds.

- names: nicknames (a table), diacritics, German transliteration (ü = ue), typos and
  transpositions (Jaro-Winkler, Damerau-Levenshtein), the same sound (Metaphone),
  multi-part and married names (a shared part); given and family swapped are tried too.
- birth date: a day/month swap, a date one day off, one mistyped digit are partial.
- address: street by token-set similarity, locality by Jaro-Winkler, postcode one edit off.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from functools import lru_cache

import jellyfish
from rapidfuzz import fuzz
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from shared.matching.nicknames import canonical
from shared.matching.profile import Profile

AGREE, PARTIAL, DISAGREE = "agree", "partial", "disagree"
LEVELS = (AGREE, PARTIAL, DISAGREE)
FIELDS = ("given", "family", "birth_date", "email", "national_id", "street", "locality", "postcode", "region",
          "country")
NAME_SIMILAR = 0.9
PLACE_SIMILAR = 0.9
STREET_SIMILAR = 85
_TRANSLITERATION = (("ae", "a"), ("oe", "o"), ("ue", "u"))

Levels = dict[str, str | None]


@lru_cache(maxsize=65536)
def _plain(name: str) -> str:
    """German transliteration undone after folding: "mueller" and "müller" → "muller"."""
    for two, one in _TRANSLITERATION:
        name = name.replace(two, one)
    return name


@lru_cache(maxsize=65536)
def _sound(name: str) -> str:
    return jellyfish.metaphone(name) if name else ""


def _same_name(a: str, b: str, given: bool) -> bool:
    if a == b or _plain(a).replace(" ", "") == _plain(b).replace(" ", ""):
        return True
    return given and canonical(a) == canonical(b)


def _similar_name(a: str, b: str) -> bool:
    if JaroWinkler.similarity(a, b) >= NAME_SIMILAR or _sound(a) == _sound(b):
        return True
    if min(len(a), len(b)) >= 4 and DamerauLevenshtein.distance(a, b) <= 1:
        return True
    parts_a, parts_b = set(a.split()), set(b.split())
    multi_part = len(parts_a) > 1 or len(parts_b) > 1  # "garcia marquez" / "garcia"; a married name
    return multi_part and any(len(p) > 2 for p in parts_a & parts_b)


def name_level(a: str, b: str, given: bool) -> str | None:
    if not a or not b:
        return None
    if _same_name(a, b, given):
        return AGREE
    return PARTIAL if _similar_name(a, b) else DISAGREE


def _day(text: str) -> date | None:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def date_level(a: str, b: str) -> str | None:
    if not a or not b:
        return None
    if a == b:
        return AGREE
    if a[:4] == b[:4] and a[4:6] == b[6:8] and a[6:8] == b[4:6]:
        return PARTIAL  # day and month swapped
    if DamerauLevenshtein.distance(a, b) <= 1:
        return PARTIAL  # one digit mistyped, or two adjacent ones swapped
    da, db = _day(a), _day(b)
    return PARTIAL if da and db and abs(da - db) <= timedelta(days=1) else DISAGREE


def _equal_level(a: str, b: str) -> str | None:
    return None if not a or not b else AGREE if a == b else DISAGREE


def _graded(a: str, b: str, close: Callable[[str, str], bool]) -> str | None:
    """Absent, agree when equal, partial when `close`, else disagree."""
    if not a or not b:
        return None
    if a == b:
        return AGREE
    return PARTIAL if close(a, b) else DISAGREE


def _place_close(a: str, b: str) -> bool:
    return JaroWinkler.similarity(a, b) >= PLACE_SIMILAR


def _street_close(a: str, b: str) -> bool:
    return fuzz.token_set_ratio(a, b) >= STREET_SIMILAR


def _postcode_close(a: str, b: str) -> bool:
    return DamerauLevenshtein.distance(a, b) <= 1


def _emails_level(a: tuple[str, ...], b: tuple[str, ...]) -> str | None:
    if not a or not b:
        return None
    return AGREE if set(a) & set(b) else DISAGREE


def compare(query: Profile, candidate: Profile, swapped: bool = False) -> Levels:
    """The level of each field; `swapped` compares the query's given name with the
    candidate's family name and the other way round."""
    given, family = (query.family, query.given) if swapped else (query.given, query.family)
    return {
        "given": name_level(given, candidate.given, True),
        "family": name_level(family, candidate.family, False),
        "birth_date": date_level(query.birth, candidate.birth),
        "email": _emails_level(query.emails, candidate.emails),
        "national_id": _equal_level(query.nid, candidate.nid),
        "street": _graded(query.street, candidate.street, _street_close),
        "locality": _graded(query.locality, candidate.locality, _place_close),
        "postcode": _graded(query.postcode, candidate.postcode, _postcode_close),
        "region": _equal_level(query.region, candidate.region),
        "country": _equal_level(query.country, candidate.country),
    }
