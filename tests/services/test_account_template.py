"""Account templates: the login a person gets in a target, folded to ASCII, with a suffix
on a collision (shared/models/account_template.py)."""

from __future__ import annotations

from itertools import islice

import pytest

from shared.models.account_template import MAX_LOGIN, AccountTemplate, fold, template_problem
from tests.connectors.directory import a_person


@pytest.mark.parametrize(("given", "family", "login"), [
    ("Ada", "Lovelace", "ada.lovelace"),
    ("Zoë", "Ŝtraße", "zoe.strasse"),
    ("Łukasz", "Żółć", "lukasz.zolc"),
    ("Jean-Luc", "O'Brien Smith", "jean-luc.obrien-smith"),
    ("Søren", "Kierkegård", "soren.kierkegard"),
    ("Ольга", "Петрова", "olga.petrova"),
])
def test_the_default_template_folds_names_to_ascii(given, family, login):
    assert AccountTemplate().login(a_person(given=given, family=family)) == login


def test_candidates_add_a_number_after_a_collision_and_keep_within_the_limit():
    long = a_person(given="A" * 40, family="B" * 40)

    first, second, third = islice(AccountTemplate().candidates(a_person()), 3)
    numbered = list(islice(AccountTemplate().candidates(long), 12))

    assert (first, second, third) == ("ada.lovelace", "ada.lovelace2", "ada.lovelace3")
    assert all(len(c) <= MAX_LOGIN for c in numbered) and numbered[11].endswith("12")


def test_other_placeholders_and_the_preferred_name():
    person = a_person(given="Augusta", family="King")
    person.names.preferred = "Ada"

    assert AccountTemplate("{given_initial}{family}").login(person) == "aking"
    assert AccountTemplate("{preferred}.{family}").login(person) == "ada.king"
    assert AccountTemplate("x-{person_id}").login(person) == "x-p-ada"


@pytest.mark.parametrize(("template", "problem"), [
    ("static", "names no placeholder, e.g. {given}.{family}"),
    ("{given}.{surname}", "unknown placeholder {surname}; known: family, given, given_initial, person_id, preferred"),
    ("{given!r}", "placeholders take no format spec or conversion"),
    ("{given", "not a template: expected '}' before end of string"),
])
def test_a_template_that_cannot_work_is_named(template, problem):
    assert template_problem(template) == problem
    with pytest.raises(ValueError, match="account template"):
        AccountTemplate(template)


def test_fold_leaves_no_doubled_or_outer_separators():
    assert fold("  --Ada__..Lovelace-- ") == "ada_lovelace"
