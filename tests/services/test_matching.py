"""Attribute matching: a new source record is checked against the registry before it is linked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.models.person import PersonUpdate
from shared.services.matching import MatchQuery, match
from shared.services.registration import register
from shared.store.persons import PersonRepository
from tests.factories import hr_update


@pytest.fixture
def ada(rt) -> str:
    body = hr_update(birth_date="1815-12-10", names={"given": "Ada", "family": "Lovelace"})
    return register(rt, PersonUpdate.model_validate(body), "hr").person.id


def test_the_same_email_and_birth_date_is_an_exact_match(rt, ada):
    result = match(PersonRepository(rt.store), MatchQuery(emails=["Ada.Lovelace@example.edu"], birth_date="1815-12-10"))
    assert result.outcome == "exact"
    assert [(c.person_id, c.score) for c in result.candidates] == [(ada, 0.8)]


def test_the_same_name_alone_is_only_possible(rt, ada):
    result = match(PersonRepository(rt.store), MatchQuery(given="ada", family="LOVELACE"))
    assert result.outcome == "possible" and result.candidates[0].matched == ["family", "given"]


def test_a_conflicting_birth_date_is_never_exact(rt, ada):
    result = match(PersonRepository(rt.store), MatchQuery(emails=["ada.lovelace@example.edu"], family="Lovelace",
                                                          given="Ada", birth_date="1990-01-01"))
    assert result.outcome == "possible"
    assert "birth_date_differs" in result.candidates[0].matched


def test_a_stranger_matches_nobody(rt, ada):
    assert match(PersonRepository(rt.store), MatchQuery(family="Hopper", emails=["grace@navy.mil"])).outcome == "none"


def test_a_query_needs_a_family_name_or_an_email():
    with pytest.raises(ValidationError):
        MatchQuery(given="Ada")


def test_after_a_match_the_second_source_is_linked_and_its_updates_land_on_the_person(rt, ada):
    from shared.errors import Conflict
    from shared.models.person import Identifier
    from shared.services.registration import link_identifier

    linked = link_identifier(rt, ada, Identifier(source="sis", source_id="S-1"), "apikey:hr", "exact match")
    assert Identifier(source="sis", source_id="S-1") in linked.identifiers
    sis = {"source": "sis", "source_id": "S-1", "as_of": "2026-11-02T08:00:00+00:00",
           "affiliations": [{"key": "prog", "type": "student", "organization": "MATH", "start": "2025-09-01"}]}
    result = register(rt, PersonUpdate.model_validate(sis), "sis")
    assert result.person.id == ada and sorted(a.source for a in result.person.affiliations) == ["hr", "sis"]
    other = register(rt, PersonUpdate.model_validate(hr_update(source_id="E9", emails=[{"address": "x@example.edu"}])), "hr")
    with pytest.raises(Conflict):
        link_identifier(rt, other.person.id, Identifier(source="sis", source_id="S-1"), "apikey:hr", "mistake")
