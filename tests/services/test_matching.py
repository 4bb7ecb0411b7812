"""Attribute matching: candidates from blocking keys, ranked by Fellegi–Sunter weight,
explained field by field; a query with nothing to block on is refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.errors import InvalidInput
from shared.matching.compare import compare, date_level, name_level
from shared.matching.profile import Profile
from shared.models.person import PersonUpdate
from shared.services.matching import MatchQuery, match
from shared.services.registration import register
from shared.store.persons import PersonRepository
from tests.factories import hr_update

KEY = "test-national-id-key"


@pytest.fixture
def extra_settings() -> dict[str, str]:
    return {"ROSTER_NATIONAL_ID_KEY": KEY}


def person(rt, source_id: str, given: str, family: str, birth: str, **more) -> str:
    body = hr_update(source_id=source_id, names={"given": given, "family": family}, birth_date=birth,
                     emails=[{"address": f"{source_id.lower()}@example.edu"}], **more)
    return register(rt, PersonUpdate.model_validate(body), "hr").person.id


@pytest.fixture
def registry(rt) -> dict[str, str]:
    return {
        "ada": person(rt, "E1", "Ada", "Lovelace", "1815-12-10", national_id="AB 12 34 56",
                      address={"street": "12 St James's Square", "locality": "London", "postcode": "SW1Y 4JH"}),
        "grace": person(rt, "E2", "Grace", "Hopper", "1906-12-09"),
        "jose": person(rt, "E3", "José", "Müller", "1970-03-04"),
        "katherine": person(rt, "E4", "Katherine", "Johnson", "1918-08-26"),
        "smith": person(rt, "E5", "John", "Smith", "1980-01-02"),
    }


def run(rt, **query):
    return match(rt.store, MatchQuery(**query), KEY)


def test_names_and_birth_date_with_a_typo_find_the_person(rt, registry):
    result = run(rt, given="Ada", family="Lovelcae", birth_date="1815-12-10")
    assert result.candidates[0].person_id == registry["ada"]
    levels = {f.field: f.level for f in result.candidates[0].fields}
    assert levels == {"given": "agree", "family": "partial", "birth_date": "agree"}


def test_every_field_agreeing_is_exact_and_explained_with_weights(rt, registry):
    result = run(rt, given="ada", family="LOVELACE", birth_date="1815-12-10", national_id="ab123456",
                 address={"street": "12 St James's Sq", "postcode": "SW1Y4JH", "locality": "london"})
    assert result.outcome == "exact"
    best = result.candidates[0]
    assert best.person_id == registry["ada"] and best.score > 0.999
    assert {f.field for f in best.fields if f.level == "agree"} >= {"given", "family", "birth_date", "national_id",
                                                                     "postcode", "locality"}
    assert all(f.weight > 0 for f in best.fields)
    assert best.weight == pytest.approx(sum(f.weight for f in best.fields), abs=0.01)


@pytest.mark.parametrize(("given", "family", "birth"), [
    ("Grace", "Hoper", "1906-12-09"),        # a typo
    ("Grace", "Hpoper", "1906-12-09"),       # a transposition
    ("Hopper", "Grace", "1906-12-09"),       # given and family swapped
    ("Grace", "Hopper", "1906-09-12"),       # day and month swapped
    ("Grace", "Hopper", "1906-12-10"),       # a date one day off
    ("Jose", "Mueller", "1970-03-04"),       # diacritics and transliteration
    ("Kate", "Johnson", "1918-08-26"),       # a nickname
    ("Katherine", "Johnson-Smith", "1918-08-26"),  # a married, multi-part name
])
def test_variants_of_a_registered_person_are_found_first(rt, registry, given, family, birth):
    result = run(rt, given=given, family=family, birth_date=birth)
    expected = {"Grace": "grace", "Hopper": "grace", "Jose": "jose", "Kate": "katherine", "Katherine": "katherine"}
    assert result.outcome in ("exact", "possible")
    assert result.candidates[0].person_id == registry[expected[given]]


def test_an_equal_email_with_a_birth_date_one_day_off_is_still_found(rt, registry):
    result = run(rt, emails=["E2@example.edu"], birth_date="1906-12-10")
    assert result.outcome != "none" and result.candidates[0].person_id == registry["grace"]
    assert {f.field: f.level for f in result.candidates[0].fields}["birth_date"] == "partial"


def test_a_stranger_matches_nobody(rt, registry):
    assert run(rt, given="Edsger", family="Dijkstra", birth_date="1930-05-11").outcome == "none"


def test_a_conflicting_national_id_and_birth_date_keep_a_namesake_out_of_exact(rt, registry):
    result = run(rt, given="John", family="Smith", birth_date="1955-07-07", national_id="ZZ999999")
    assert result.outcome != "exact"


def test_two_equally_good_candidates_are_never_exact(rt, registry):
    person(rt, "E6", "John", "Smith", "1980-01-02")  # a namesake born the same day
    result = run(rt, given="John", family="Smith", birth_date="1980-01-02")
    assert result.outcome == "possible" and len(result.candidates) == 2


def test_a_query_with_nothing_to_block_on_is_refused_naming_the_field(rt, registry):
    with pytest.raises(InvalidInput) as refused:
        run(rt, given="Ada")
    assert refused.value.errors[0].field == "family"


def test_a_malformed_national_id_is_refused():
    with pytest.raises(ValidationError) as refused:
        MatchQuery(family="Lovelace", national_id="12;DROP")
    assert refused.value.errors()[0]["loc"] == ("national_id",)


def test_an_address_with_unknown_fields_is_refused():
    with pytest.raises(ValidationError) as refused:
        MatchQuery(family="Lovelace", birth_date="1815-12-10", address={"street": "x", "flat": "3"})
    assert refused.value.errors()[0]["loc"] == ("address", "flat")


def test_the_national_id_is_stored_only_as_a_keyed_hash(rt, registry):
    stored = PersonRepository(rt.store).get(registry["ada"]).person
    assert stored.national_id_hash and len(stored.national_id_hash) == 64
    raw = str(rt.store.table("persons").get(registry["ada"], "person").properties)
    assert "AB123456" not in raw and "AB 12 34 56" not in raw


def test_comparison_levels():
    assert name_level("jon", "john", True) == "agree"  # nickname family
    assert name_level("obrien", "o brien", False) == "agree"
    assert name_level("smith", "smyth", False) == "partial"
    assert name_level("smith", "jones", False) == "disagree"
    assert date_level("19800102", "19800201") == "partial"
    assert date_level("19800102", "19810305") == "disagree"
    levels = compare(Profile(given="ada", birth="18151210"), Profile(given="ada", family="lovelace"))
    assert levels["birth_date"] is None and levels["given"] == "agree"


def test_agreeing_on_a_common_family_name_weighs_less_than_on_a_rare_one(rt, registry):
    for n in range(6):
        person(rt, f"S{n}", f"Given{n}", "Smith", f"19{50 + n}-01-01")
    common = run(rt, given="John", family="Smith", birth_date="1980-01-02").candidates[0]
    rare = run(rt, given="Grace", family="Hopper", birth_date="1906-12-09").candidates[0]
    weight = {c.person_id: {f.field: f.weight for f in c.fields} for c in (common, rare)}
    assert weight[common.person_id]["family"] < weight[rare.person_id]["family"]


def test_em_recovers_m_and_u_from_unlabelled_pairs():
    from collections import Counter

    from shared.matching.compare import FIELDS
    from shared.matching.weights import estimate

    agree_all = tuple(0 if f in ("given", "family", "birth_date") else -1 for f in FIELDS)
    disagree_all = tuple(2 if f in ("given", "family", "birth_date") else -1 for f in FIELDS)
    only_family = tuple({"family": 0, "given": 2, "birth_date": 2}.get(f, -1) for f in FIELDS)
    m, u, prior = estimate(Counter({agree_all: 100, disagree_all: 850, only_family: 50}))
    assert 0.08 < prior < 0.12
    assert m["birth_date"]["agree"] > 0.95 and u["birth_date"]["agree"] < 0.05
    assert u["family"]["agree"] > u["given"]["agree"]


def test_a_replayed_update_refiles_the_blocking_entries_a_crash_lost(rt, registry):
    index = rt.store.table("personmatch")
    for entity in list(index.query(f"d:{'18151210'}")):
        index.delete(entity.partition_key, entity.row_key)
    body = hr_update(source_id="E1", names={"given": "Ada", "family": "Lovelace"}, birth_date="1815-12-10",
                     emails=[{"address": "e1@example.edu"}], national_id="AB 12 34 56",
                     address={"street": "12 St James's Square", "locality": "London", "postcode": "SW1Y 4JH"})
    assert register(rt, PersonUpdate.model_validate(body), "hr").outcome == "unchanged"
    assert [e.row_key for e in index.query("d:18151210")] == [registry["ada"]]


def test_a_name_in_another_script_is_transliterated_and_compared(rt, registry):
    person(rt, "E7", "Dmitri", "Mueller", "1961-04-12")
    result = run(rt, given="Дмитрий", family="Мюллер", birth_date="1961-04-12")
    best = {f.field: f.level for f in result.candidates[0].fields}
    assert best["family"] in ("agree", "partial") and best["given"] in ("agree", "partial")
