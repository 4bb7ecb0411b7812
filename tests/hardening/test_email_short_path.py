"""An update's e-mail address is checked and normalised exactly as pydantic's `EmailStr` does
(email-validator), whether it takes the short path for a domain seen before or the full check:
a generated corpus of common, odd and hostile addresses, each tried on a cold and a warm cache."""

from __future__ import annotations

import itertools
import random

import pytest
from pydantic import BaseModel, EmailStr, ValidationError

from shared.models import email
from shared.models.base import Model
from shared.models.person import EmailIn

LOCALS = [
    "ada", "Ada.Lovelace", "a.b.c", "x+tag", "o'brien", "a_b-c", "u{1}", "#!$%&*/=?^`|~", "POSTMASTER",
    "Abuse", "info", "sales.team", ".ada", "ada.", "a..b", "", "a b", '"quoted"', '"a@b"', "ad\u00e9",
    "ada\u0301", "\u0430da", "a\x00b", "a\tb", "a(b)", "a,b", "a[b]", "a\\b", "l" * 64, "l" * 65, "l" * 240,
]
DOMAINS = [
    "example.org", "Example.ORG", "uni.example.edu", "a-b.example.com", "localhost", "example.test",
    "example.invalid", "site.local", "x.onion", "example", "example.123", "-bad.example.org",
    "bad-.example.org", "a..example.org", ".example.org", "example.org.", "xn--bcher-kva.de",
    "XN--BCHER-KVA.de", "b\u00fccher.de", "ex_ample.org", "[192.0.2.1]", "192.0.2.1", "exa mple.org",
    "d" * 63 + ".org", "d" * 64 + ".org", ".".join(["d" * 60] * 4) + ".org", "example.org>", "exam@ple.org",
    "xn--a.org", "xn--ls8h.la", "a.xn--p1ai", "ex--ample.org",
]
EXTRAS = [
    "", "@", "ada@", "@example.org", "ada@@example.org", " ada@example.org ", "ada@example.org\n",
    "Ada <ada@example.org>", "<ada@example.org>", "ada\uff20example.org", "ada\ufe6bexample.org",
    "a" * 64 + "@" + "d" * 63 + "." + "e" * 63 + "." + "f" * 57 + ".org",  # 254 in all
    "a" * 65 + "@" + "d" * 63 + "." + "e" * 63 + "." + "f" * 57 + ".org",  # 255
]


class _Reference(Model):
    """EmailIn as it was: pydantic's EmailStr, under the same model conventions."""

    address: EmailStr


def _outcome(model: type[BaseModel], value: str):
    """The normalised address, or the refusal as the caller sees it (type and message)."""
    try:
        return model(address=value).address
    except ValidationError as refused:
        return [(e["type"], e["msg"], e["loc"]) for e in refused.errors()]


def _corpus() -> list[str]:
    pairs = [f"{local}@{domain}" for local, domain in itertools.product(LOCALS, DOMAINS)]
    rng = random.Random(13)
    mutated = []
    for address in rng.sample(pairs, 200):  # one character changed, dropped or doubled
        at = rng.randrange(len(address))
        mutated += [address[:at] + rng.choice("A.-@<\" \u00e9\x7f") + address[at + 1:],
                    address[:at] + address[at + 1:], address[:at] + address[at] + address[at:]]
    return pairs + mutated + EXTRAS


@pytest.fixture
def cold_cache(monkeypatch):
    monkeypatch.setattr(email, "_accepted_domains", {})


def test_every_address_gets_the_answer_email_str_gives_cold_and_warm(cold_cache):
    corpus = _corpus()
    expected = {value: _outcome(_Reference, value) for value in corpus}
    for order in (corpus, list(reversed(corpus)), random.Random(7).sample(corpus, len(corpus))):
        email._accepted_domains.clear()
        for value in order:
            assert _outcome(EmailIn, value) == expected[value], value
    assert email._accepted_domains  # the short path was taken: domains were remembered
    assert sum(isinstance(v, str) for v in expected.values()) > 200  # and plenty were accepted


def test_a_domain_email_validator_rewrites_is_never_answered_from_memory(cold_cache):
    assert EmailIn(address="ada@xn--bcher-kva.de").address == "ada@bücher.de"
    assert "xn--bcher-kva.de" not in email._accepted_domains
    assert EmailIn(address="Ada@Example.ORG").address == "Ada@example.org"
    assert email._accepted_domains == {"Example.ORG": "example.org"}


def test_a_remembered_domain_still_refuses_a_bad_local_part_or_a_long_address(cold_cache):
    EmailIn(address="ada@example.org")
    for bad in ("a..b@example.org", "ad\x00a@example.org", "a" * 250 + "@example.org", "@example.org"):
        with pytest.raises(ValidationError) as refused:
            EmailIn(address=bad)
        assert refused.value.errors()[0]["loc"] == ("address",)
    assert EmailIn(address="Postmaster@example.org").address == "postmaster@example.org"  # RFC 2142


def test_the_memory_of_domains_is_bounded(cold_cache, monkeypatch):
    monkeypatch.setattr(email, "_MAX_DOMAINS", 3)
    for n in range(10):
        assert EmailIn(address=f"ada@host{n}.example.org").address == f"ada@host{n}.example.org"
    assert len(email._accepted_domains) == 3
