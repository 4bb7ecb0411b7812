"""Account templates: the login staff are told to type, folded to ASCII and free of collisions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.models.account_template import (
    AccountTemplateSettings,
    fold,
    numbered,
    suggest,
    values_of,
)
from shared.models.person import Names, Person


def person(given: str, family: str, email: str = "zoe@example.edu") -> Person:
    now = datetime(2026, 11, 2, tzinfo=UTC)
    return Person(id="p-1", names=Names(given=given, family=family), emails=[{"address": email, "type": "work"}],
                  created_at=now, updated_at=now)


def test_a_name_with_accents_and_strokes_is_folded_to_an_ascii_login():
    assert suggest(AccountTemplateSettings(), values_of(person("Zoë", "Ørsted-Łukasiewicz")), set()).login == \
        "zoe.orsted-lukasiewicz"
    assert fold("  Jean Luc  O'Brien ") == "jean-luc-obrien"
    assert fold("Straße") == "strasse"


def test_a_taken_login_gets_the_first_free_number_case_insensitively():
    template = AccountTemplateSettings(login="{given:1}{family}")
    assert suggest(template, values_of(person("Ada", "Lovelace")), {"ALovelace", "alovelace2"}).login == "alovelace3"


def test_a_numbered_login_is_cut_so_it_still_fits_the_maximum_length():
    assert list(numbered("abcdef", 6))[1] == "abcde2"


def test_attributes_are_rendered_with_the_names_and_the_suggested_login():
    template = AccountTemplateSettings(attributes={"displayName": "{given} {family}", "mail": "{login}@wiki.example.edu"})
    suggestion = suggest(template, values_of(person("Zoë", "Ørsted")), {"zoe.orsted"})
    assert suggestion.attributes == {"displayName": "Zoë Ørsted", "mail": "zoe.orsted2@wiki.example.edu"}


@pytest.mark.parametrize("login", ["{given}.{surname}", "{given}.{family", "{login}", "{given!r}", "static"])
def test_a_template_with_an_unknown_placeholder_or_a_stray_brace_is_refused(login):
    with pytest.raises(ValidationError) as refused:
        AccountTemplateSettings(login=login)
    assert refused.value.errors()[0]["loc"] == ("login",)


def test_a_name_that_folds_to_nothing_falls_back_to_the_person_id():
    assert suggest(AccountTemplateSettings(login="{preferred}"), {"preferred": "！", "id": "P-42"}, set()).login == "p-42"


def test_the_worklist_and_the_directory_connectors_render_the_same_login():
    from shared.models.account_template import AccountTemplate

    ada = person("Ada", "Lovelace")
    settings = AccountTemplateSettings(login="{given_initial}{family}")
    assert suggest(settings, values_of(ada), set()).login == AccountTemplate("{given:1}{family}").login(ada) == "alovelace"
