"""Precedence, parentheses, and the ways Entra lets a value or an operator be written."""

from __future__ import annotations

import pytest

from shared.rules import parse
from shared.rules.nodes import Conjunction, Disjunction, Negation
from tests.rules.people import holds, person

T = 'person.givenName -eq "Ada"'
F = 'person.givenName -eq "Grace"'


@pytest.mark.parametrize(("rule", "expected"), [
    (f"{T} -or {F} -and {F}", True),  # T or (F and F); (T or F) and F would be false
    (f"{F} -and {F} -or {T}", True),
    (f"({T} -or {F}) -and {F}", False),  # parentheses change it
    (f"-not {F} -and {F}", False),  # (not F) and F; not (F and F) would be true
    (f"-not {T} -or {T}", True),  # (not T) or T
    (f"-not ({T} -or {T})", False),
    (f"-not -not {T}", True),
    (f"-not({F} -and {T})", True),
    (f"(({T}))", True),
    (f"{F} -or {F} -or {F} -or {T}", True),
    (f"{T} -and {T} -and {T} -and {F}", False),
])
def test_not_binds_tighter_than_and_which_binds_tighter_than_or(rule, expected):
    assert holds(rule) is expected


def test_the_tree_of_a_or_b_and_c_is_a_or_b_and_c():
    tree = parse(f"{T} -or {F} -and -not {T}").tree
    assert isinstance(tree, Disjunction)
    assert isinstance(tree.children[1], Conjunction)
    assert isinstance(tree.children[1].children[1], Negation)


@pytest.mark.parametrize("written", [
    r'person.givenName -eq "Ad\"a"',  # backslash
    'person.givenName -eq "Ad`"a"',  # Entra's backtick
    'person.givenName -eq "Ad""a"',  # doubled quote
])
def test_a_quote_inside_text_can_be_escaped_three_ways(written):
    assert holds(written, person(names={"given": 'Ad"a', "family": "Lovelace"}))


def test_single_quoted_text_doubles_its_single_quotes():
    who = person(names={"given": "Ada", "family": "O'Brien"})
    assert holds("person.familyName -eq 'o''brien'", who)
    assert holds("person.familyName -in ['Smith', 'O''Brien']", who)


def test_empty_text_is_a_value():
    assert holds('person.attributes.nickname -eq ""', person(attributes={"nickname": ""}))
    assert holds('person.givenName -ne ""')


def test_typographic_dashes_pasted_from_documents_are_read_as_dashes():
    assert holds('person.givenName –eq "Ada" —and person.familyName −startsWith "Love"')


def test_dates_may_be_written_without_quotes():
    assert holds("person.birthDate -lt 2000-01-01 -and person.birthDate -gt 1980-01-01")


def test_rules_may_span_lines_and_tabs():
    assert holds('(person.givenName -eq "Ada")\n\t-and\n(person.status -eq "active")')


def test_entra_any_without_parentheses_takes_one_clause():
    assert holds('person.emails -any _ -endsWith "@lab.example.org"')
    assert holds(f'person.emails -any _ -endsWith "@nowhere" -or {T}')


def test_parsing_the_same_text_twice_gives_the_same_rule():
    assert parse(T) == parse(T)
    assert parse(T) is parse(T)  # cached: groups re-read stored rules often
    assert repr(parse(T)) == f"Rule({T!r})"
