"""Blocking keys: the few index entries a profile is filed under, and the keys a query
reads, so a query meets its candidates without reading the registry.

Each key narrows by two things, so a block stays small even for a common name, and the
keys overlap, so one mistyped field never hides a true match: a typo in the family name
is still found by given name + birth year, by birth date, by postcode + family initial.
A query also reads the keys of its given/family swap and of its day/month swap.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import jellyfish

from shared.matching.profile import Profile

MIN_PART = 3


@lru_cache(maxsize=65536)
def code(name: str) -> str:
    """A name's phonetic code (NYSIIS), the whole name folded when it has no letters left."""
    return jellyfish.nysiis(name) if name else ""


def _parts(name: str) -> set[str]:
    """The whole name and, for a multi-part name, each part of MIN_PART letters or more."""
    parts = {name.replace(" ", "")} if name else set()
    parts.update(p for p in name.split() if len(p) >= MIN_PART and " " in name)
    return parts


def keys(profile: Profile) -> set[str]:
    """Where a profile is filed (each key is one index partition)."""
    out: set[str] = set()
    year, given_code = profile.birth[:4], code(profile.given.replace(" ", ""))
    for family in _parts(profile.family):
        family_code = code(family)
        if profile.given:
            out.add(f"n:{family_code}|{profile.given[0]}")
            out.add(f"s:{given_code}|{family_code}")
        if year:
            out.add(f"y:{family_code}|{year}")
        if profile.postcode:
            out.add(f"p:{profile.postcode}|{family[0]}")
    if profile.given and year:
        out.add(f"g:{given_code}|{year}")
    if profile.birth:
        out.add(f"d:{profile.birth}")
    out.update(f"e:{email}" for email in profile.emails)
    if profile.nid:
        out.add(f"i:{profile.nid}")
    return out


def query_keys(profile: Profile) -> set[str]:
    """The keys a query reads: its own, its names swapped, its day and month swapped."""
    variants = [profile, replace(profile, given=profile.family, family=profile.given)]
    birth = profile.birth
    if birth and birth[4:6] != birth[6:8] and int(birth[6:8]) <= 12:
        variants.append(replace(profile, birth=birth[:4] + birth[6:8] + birth[4:6]))
    return set().union(*(keys(v) for v in variants))
