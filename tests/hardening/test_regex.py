"""Item 6 of issue 11: -match / -notMatch on RE2 (linear time), unsupported syntax refused
when the rule is saved, with the position."""

from __future__ import annotations

import pytest

from shared.rules import RuleError, parse
from shared.rules.regex import compile_pattern
from tests.factories import hr_update
from tests.hardening.calls import call, payload, problem_fields


def _where(rule: str) -> RuleError:
    with pytest.raises(RuleError) as caught:
        parse(rule)
    return caught.value


@pytest.mark.parametrize(("pattern", "construct", "says"), [
    (r"(a)\1", r"\1", "backreferences are not supported"),
    ("ad(?=a)", "(?=", "lookahead is not supported"),
    ("ad(?!a)", "(?!", "lookahead is not supported"),
    ("(?<=x)ada", "(?<=", "lookbehind is not supported"),
    ("(?<!x)ada", "(?<!", "lookbehind is not supported"),
    ("(?>ad)a", "(?>", "atomic groups are not supported"),
    ("ada++", "++", "possessive"),
    (r"ada\Z", r"\Z", r"\Z is not supported: use \z"),
    ("a{2000}", "{2000}", "invalid repetition size"),
])
def test_unsupported_constructs_are_refused_at_their_position(pattern, construct, says):
    rule = f'person.givenName -match "{pattern}"'

    error = _where(rule)

    assert says in error.message
    assert rule[error.position:].startswith(construct)


def test_the_position_counts_escaped_quotes_in_the_rule():
    rule = 'person.givenName -notMatch "say ""hi"" (?=x)"'

    error = _where(rule)

    assert rule[error.position:].startswith("(?=")


def test_saving_a_group_with_an_unsupported_pattern_is_a_422_naming_rule_with_line_and_column(rt):
    rule = 'person.status -eq "active" -and\nperson.givenName -match "(a)\\1"'
    response = call("groups_create", "POST", body={"id": "g1", "name": "G", "kind": "dynamic", "rule": rule})

    assert response.status_code == 422
    assert problem_fields(response) == ["rule"]
    assert "line 2, column 29: not a valid regular expression: backreferences" in payload(response)["detail"]


def test_a_catastrophic_pattern_runs_in_linear_time_on_re2(rt):
    """`(a+)+$` over 40 a's and a '!' backtracks for days in Python's re; RE2 answers at once
    (pytest-timeout ends the test should it ever hang)."""
    name = "a" * 40 + "!"
    call("persons_register", "POST", key="hr-key", body=hr_update(names={"given": name, "family": "Lovelace"}))
    call("groups_create", "POST", body={"id": "g1", "name": "G", "kind": "dynamic", "rule": 'person.id -eq "x"'})

    response = call("groups_preview", "POST", body={"rule": 'person.givenName -match "(a+)+$"'}, route={"id": "g1"})
    matched = call("groups_preview", "POST", body={"rule": 'person.givenName -match "^(a+)+!$"'}, route={"id": "g1"})

    assert response.status_code == 200 and matched.status_code == 200
    assert payload(response)["join"] == []
    assert len(payload(matched)["join"]) == 1
    assert type(compile_pattern("(a+)+$")).__module__.startswith("re2")


@pytest.mark.parametrize(("pattern", "value", "holds"), [
    (r"^ada\s+l", "Ada Lovelace", True),
    ("LOVE", "Ada Lovelace", True),  # case is ignored
    ("^éLO", "Éloïse Dupont", True),  # for non-ASCII letters too
    (r"\p{Greek}", "Αλέξης Smith", True),
    ("(?P<first>ada) (?P<last>l)", "Ada Lovelace", True),
    (r"\bvel", "Ada Lovelace", False),
])
def test_supported_syntax_matches_as_documented(pattern, value, holds):
    assert (compile_pattern(pattern).search(value) is not None) is holds
