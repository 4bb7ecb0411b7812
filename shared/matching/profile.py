"""What the matcher compares: a person's or a query's matching fields, normalised once.

Names are folded (case, accents), punctuation dropped, hyphens made spaces; a date is
`YYYYMMDD`; the national id is only ever its keyed hash. A profile is stored compactly
(`pack`/`unpack`) on each blocking-index entity, so scoring a candidate needs no read of
the person's document.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from anyascii import anyascii

_NOT_LETTER = re.compile(r"[^a-z ]+")
_SPACES = re.compile(r"\s+")
_ADDRESS_JUNK = re.compile(r"[^0-9a-z ]+")
_SHORT = {"given": "g", "family": "f", "birth": "d", "emails": "e", "nid": "n", "street": "s",
          "locality": "l", "postcode": "p", "region": "r", "country": "c", "sources": "x"}
_LONG = {v: k for k, v in _SHORT.items()}


def fold(text: str) -> str:
    """Case- and accent-insensitive form: "Éloïse" → "eloise"; "ß" → "ss"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def latin(text: str) -> str:
    """Folded and transliterated to Latin letters (anyascii): "Мюллер" → "myuller",
    "Γιώργος" → "giorgos", so a name written in another script still compares."""
    return anyascii(fold(text)).casefold()


@lru_cache(maxsize=65536)
def name_form(text: str | None) -> str:
    """A name as compared: folded letters, hyphens and spaces as one space, apostrophes
    and dots dropped ("O'Brien" → "obrien", "Smith-Jones" → "smith jones"); names repeat
    (a registry has far fewer given names than persons), so their forms are kept."""
    if not text:
        return ""
    folded = latin(text).replace("-", " ").replace("'", "").replace("’", "").replace(".", "")
    return _SPACES.sub(" ", _NOT_LETTER.sub("", folded)).strip()


def address_form(text: str | None) -> str:
    if not text:
        return ""
    return _SPACES.sub(" ", _ADDRESS_JUNK.sub(" ", latin(text))).strip()


def postcode_form(text: str | None) -> str:
    return address_form(text).replace(" ", "")


def date_form(value: date | None) -> str:
    return value.strftime("%Y%m%d") if value else ""


@dataclass(frozen=True)
class Profile:
    given: str = ""
    family: str = ""
    birth: str = ""
    emails: tuple[str, ...] = ()
    nid: str = ""
    street: str = ""
    locality: str = ""
    postcode: str = ""
    region: str = ""
    country: str = ""
    sources: tuple[str, ...] = field(default=(), compare=False)

    def pack(self) -> str:
        short = {key: value for name, key in _SHORT.items() if (value := getattr(self, name))}
        return json.dumps(short, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def unpack(cls, text: str) -> Profile:
        raw = {_LONG[k]: v for k, v in json.loads(text).items()}
        for name in ("emails", "sources"):
            if name in raw:
                raw[name] = tuple(raw[name])
        return cls(**raw)


def profile_of(*, given: str | None, family: str | None, birth_date: date | None, emails: list[str],
               national_id_hash: str | None, address, sources: list[str] = ()) -> Profile:
    """A profile from person or query fields (`address` has street, locality, postcode,
    region, country attributes, or is None)."""
    return Profile(
        given=name_form(given), family=name_form(family), birth=date_form(birth_date),
        emails=tuple(sorted({fold(e).strip() for e in emails})), nid=national_id_hash or "",
        street=address_form(address.street) if address else "",
        locality=address_form(address.locality) if address else "",
        postcode=postcode_form(address.postcode) if address else "",
        region=address_form(address.region) if address else "",
        country=address_form(address.country) if address else "",
        sources=tuple(sorted(set(sources))),
    )  # fmt: skip
