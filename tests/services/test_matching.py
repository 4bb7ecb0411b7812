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
