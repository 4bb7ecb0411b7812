"""Account templates: the login staff are told to type, folded to ASCII and free of collisions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.models.account_template import (
    AccountTemplate,
    fold_login,
    free_login,
    suggest,
    values_of,
)
from shared.models.person import Names, Person


def person(given: str, family: str, email: str = "zoe@example.edu") -> Person:
    now = datetime(2026, 11, 2, tzinfo=UTC)
    return Person(id="p-1", names=Names(given=given, family=family), emails=[{"address": email, "type": "work"}],
                  created_at=now, updated_at=now)


def test_a_name_with_accents_and_strokes_is_folded_to_an_ascii_login():
    assert suggest(AccountTemplate(), values_of(person("Zoë", "Ørsted-Łukasiewicz")), set()).login == \
        "zoe.orsted-lukasiewicz"
    assert fold_login("  Jean Luc  O'Brien ") == "jean-luc-obrien"
    assert fold_login("Straße") == "strasse"


def test_a_taken_login_gets_the_first_free_number_case_insensitively():
    template = AccountTemplate(login="{given:1}{family}")
    assert suggest(template, values_of(person("Ada", "Lovelace")), {"ALovelace", "alovelace2"}).login == "alovelace3"


def test_a_numbered_login_is_cut_so_it_still_fits_the_maximum_length():
    assert free_login("abcdef", {"abcdef"}, 6) == "abcde2"


def test_attributes_are_rendered_with_the_names_and_the_suggested_login():
    template = AccountTemplate(attributes={"displayName": "{given} {family}", "mail": "{login}@wiki.example.edu"})
    suggestion = suggest(template, values_of(person("Zoë", "Ørsted")), {"zoe.orsted"})
    assert suggestion.attributes == {"displayName": "Zoë Ørsted", "mail": "zoe.orsted2@wiki.example.edu"}


@pytest.mark.parametrize("login", ["{given}.{surname}", "{given}.{family", "{login}"])
def test_a_template_with_an_unknown_placeholder_or_a_stray_brace_is_refused(login):
    with pytest.raises(ValidationError) as refused:
        AccountTemplate(login=login)
    assert refused.value.errors()[0]["loc"] == ("login",)


def test_a_name_that_folds_to_nothing_falls_back_to_the_person_id():
    assert suggest(AccountTemplate(login="{preferred}"), {"preferred": "！", "id": "P-42"}, set()).login == "p-42"
