"""Rules refused when saved: a plain message and where it is (offset, line, column)."""

from __future__ import annotations

import time

import pytest

from shared.errors import InvalidInput
from shared.rules import MAX_DEPTH, MAX_RULE_LENGTH, RuleError, explain_error, parse


def refused(text: str) -> RuleError:
    with pytest.raises(RuleError) as caught:
        parse(text)
    return caught.value


@pytest.mark.parametrize(("text", "at", "says"), [
    ('person.givenNam -eq "Ada"', 0, "unknown property person.givenNam; did you mean person.givenName?"),
    ('person.department -eq "Sales"', 0, "unknown property person.department"),
    ('user.department -eq "Sales"', 0, "unknown property user.department"),
    ('person.givenName -equals "Ada"', 17, "unknown operator -equals; did you mean -eq?"),
    ('person.givenName -eq "Ada', 21, "unterminated text"),
    ('person.organization -in "FIN"', 0, "unknown property"),
    ('person.givenName -in "Ada"', 21, '-in needs a list in square brackets'),
    ('person.givenName -notIn "Ada"', 24, '-notIn needs a list'),
    ('person.givenName -match "(ada"', 25, "not a valid regular expression"),  # at the pattern's "("
    ('person.givenName -any (_ -eq "x")', 17, "-any needs a list property"),
    ('person.givenName -eq', 20, "the rule ends too early: expected a value after -eq"),
    ('person.givenName -eq -and person.id -eq "1"', 21, "unexpected -and: expected a value after -eq"),
    ('person.givenName -eq "Ada" person.id', 27, "unexpected person.id: expected -and, -or or the end of the rule"),
    ('person.givenName -eq "Ada")', 26, "there is no ( left to close"),
    ('(person.givenName -eq "Ada"', 27, "expected -and, -or or )"),
    ('person.givenName "Ada"', 17, "expected an operator after person.givenName"),
    ('person.givenName -eq Ada', 21, 'write "Ada"'),
    ('person.givenName -startsWith null', 29, "null can only be used with -eq or -ne"),
    ('person.givenName -lt ["a", "b"]', 21, "-lt compares with one value, not a list"),
    ('person.givenName -eq ["a"]', 21, "use -in for a list"),
    ("person.givenName -eq 3", 21, "person.givenName is text: put the value in double quotes"),
    ("person.givenName -contains 3", 27, "-contains compares text"),
    ('person.birthDate -lt "yesterday"', 21, 'is a date: compare it with a date such as "2000-01-01"'),
    ('person.birthDate -lt "2000-02-30"', 21, "is a date"),
    ('person.status -eq "enabled"', 18, 'person.status is one of "active", "inactive"'),
    ('person.affiliations -any (affiliation.type -eq "staf")', 47, "affiliation.type is one of"),
    ('person.emails -contains "@x"', 14, "person.emails is a list: test its values with -any or -all"),
    ('affiliation.type -eq "employee"', 0, "can only be used inside person.affiliations -any"),
    ('person.affiliations -any (person.id -eq "1")', 26, "properties are those of an affiliation"),
    ('person.emails -any (affiliation.type -eq "x")', 20, "the value is written _"),
    ('_ -eq "x"', 0, "_ stands for one value of a list"),
    ('person.memberOf -any (_ -startsWith "fin-")', 24, "person.memberOf can only be tested with"),
    ('person.memberOf -any (-not _ -eq "fin")', 22, "person.memberOf can only be tested with"),
    ('person.memberOf -any (_ -ne "fin")', 24, "person.memberOf can only be tested with"),
    ('person.attributes -eq 3', 0, "name one attribute"),
    ('person.attributes.grade -in []', 28, "needs at least one value"),
    ('person.attributes.grade -in [1, null]', 32, "null can't be in a list"),
    ('person.attributes.grade -gt true', 28, "not true/false"),
    ('person.givenName -eq "Ada" #', 27, "unexpected character '#'"),
    ("", 0, "the rule is empty"),
    ("   ", 0, "the rule is empty"),
])
def test_refused_rules_say_what_and_where(text, at, says):
    error = refused(text)
    assert says in error.message
    assert error.position == at
    assert (error.line, error.column) == (1, at + 1)


def test_line_and_column_count_from_one_on_the_line_of_the_problem():
    text = '(person.givenName -eq "Ada")\n  -and\n  person.familyNme -eq "Lovelace"'
    error = refused(text)
    assert (error.line, error.column) == (3, 3)
    assert error.position == text.index("person.familyNme")
    assert error.message.startswith("unknown property person.familyNme")
    assert str(error) == f"line 3, column 3: {error.message}"


def test_the_message_is_plain_and_the_error_is_an_invalid_input_for_the_api():
    error = refused('person.givenName -eq "Ada')
    assert error.message == 'unterminated text: the " opened here is never closed'
    assert isinstance(error, InvalidInput)
    assert error.status == 422 and error.slug == "invalid-rule"
    assert error.errors[0].field == "rule"


def test_explain_error_points_at_the_column():
    text = 'person.givenName -equals "Ada"'
    shown = explain_error(text, refused(text))
    assert shown.splitlines()[1:] == ['  person.givenName -equals "Ada"', "                   ^"]


def test_a_100_kb_rule_is_refused_at_once_without_being_read():
    text = 'person.givenName -eq "Ada" -or ' * 3300
    assert len(text) > 100_000
    started = time.perf_counter()
    error = refused(text)
    assert time.perf_counter() - started < 0.05
    assert "the limit is 3,072" in error.message
    assert error.position == MAX_RULE_LENGTH


def test_a_rule_of_exactly_the_limit_is_accepted():
    clause = 'person.givenName -eq "Ada"'
    text = clause + " " * (MAX_RULE_LENGTH - len(clause))
    assert parse(text).text == text


def test_nesting_is_limited():
    clause = 'person.givenName -eq "Ada"'
    assert parse("(" * MAX_DEPTH + clause + ")" * MAX_DEPTH)
    error = refused("(" * (MAX_DEPTH + 1) + clause + ")" * (MAX_DEPTH + 1))
    assert "nested too deeply" in error.message
    assert error.position == MAX_DEPTH
    assert "nested too deeply" in refused("-not " * (MAX_DEPTH + 1) + clause).message


def test_the_deepest_rule_that_fits_the_length_is_refused_quickly_not_by_recursion():
    clause = 'person.givenName -eq "Ada"'
    depth = (MAX_RULE_LENGTH - len(clause)) // 2
    error = refused("(" * depth + clause + ")" * depth)
    assert "nested too deeply" in error.message
