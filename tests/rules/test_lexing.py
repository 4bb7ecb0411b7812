"""How lark's lexer reads a rule: the terminals' edge cases, and which error wins."""

from __future__ import annotations

import pytest

from shared.rules import RuleError, parse
from shared.rules.nodes import Comparison, Quantifier
from shared.rules.parser import parse_tree


def refused(text: str) -> RuleError:
    with pytest.raises(RuleError) as caught:
        parse_tree(text)
    return caught.value


def value_of(text: str):
    tree = parse_tree(text)
    assert isinstance(tree, Comparison)
    return tree.literal.value


@pytest.mark.parametrize(("written", "text"), [
    ('"Ad""a"', 'Ad"a'),
    ('"a"""', 'a"'),  # a doubled quote, then the closing one
    ('""""', '"'),
    (r'"a\"b`"c"', 'a"b"c'),
    (r'"a\b`c"', "a\\b`c"),  # \ and ` escape only a quote
    ('"it\'s"', "it's"),
    ("'say \"hi\"'", 'say "hi"'),
    ("'o''brien'", "o'brien"),
    ("''''", "'"),
    ('"line\nbreak"', "line\nbreak"),
])
def test_text_is_unescaped(written, text):
    assert value_of(f"person.attributes.note -eq {written}") == text


@pytest.mark.parametrize(("written", "number"), [
    ("3", 3.0), ("-3", -3.0), ("–3", -3.0), ("\u22122.5", -2.5), ("1e3", 1000.0), ("2.5E-1", 0.25),
])
def test_numbers_and_typographic_minus(written, number):
    assert value_of(f"person.attributes.grade -eq {written}") == number


@pytest.mark.parametrize("written", ["2026-11-30", "2026-11-30T10:00:00Z", "2026-11-30T10:00:00.5+01:00"])
def test_dates_and_instants_are_read_as_written(written):
    assert value_of(f"person.attributes.since -eq {written}") == written


@pytest.mark.parametrize(("written", "value"), [("TRUE", True), ("False", False), ("nULL", None)])
def test_true_false_null_are_case_insensitive(written, value):
    assert value_of(f"person.attributes.flag -eq {written}") is value


def test_a_word_that_only_starts_like_true_is_a_property():
    assert refused("person.attributes.flag -eq trueish").message.endswith('(to compare with the text trueish, '
                                                                          'write "trueish")')
    assert refused("true.x -eq 1").message.startswith("unknown property true.x")


def test_operators_and_keywords_in_any_case_and_with_any_dash():
    tree = parse_tree('person.emails \u2010ANY (_ \u2011EndsWith "@x") \u2012AND -NOT person.id \u2014Eq "1"')
    assert isinstance(tree.children[0], Quantifier) and not tree.children[0].every
    assert tree.children[1].child.op == "eq"


@pytest.mark.parametrize(("text", "at", "says"), [
    ('person.id -eqx "1"', 10, "unknown operator -eqx; did you mean -eq?"),
    ('person.id –equal "1"', 10, "unknown operator -equal; did you mean -eq?"),
    ('person.id -zzz "1"', 10, "unknown operator -zzz; operators are -eq, -ne"),
    ('person.id -eq "1" -andd person.id -eq "2"', 18, "unknown operator -andd; did you mean -and?"),
    ("person.id -eq 'x", 14, "unterminated text: the ' opened here is never closed"),
    (r'person.id -eq "x\"', 14, 'unterminated text: the " opened here is never closed'),
    ('person.id -eq "x""', 14, "unterminated text"),
    ("person.attributes.grade -eq 5x", 28, "unexpected character '5'"),
    ("person.attributes.grade -eq -5.x", 28, "unexpected character '-'"),
    ("person.id -eq \u00a0\t\"1\" @", 20, "unexpected character '@'"),
    # the writing of the whole rule is checked before its grammar: '#' comes after the missing operator
    ('person.id "1" #', 14, "unexpected character '#'"),
    ('person.id "1" -eqq', 14, "unknown operator -eqq"),
    ('person.id ) "unclosed', 12, "unterminated text"),
])
def test_what_lark_cannot_lex_is_explained_where_it_is(text, at, says):
    error = refused(text)
    assert says in error.message
    assert error.position == at


def test_syntax_errors_still_name_the_tokens_plainly():
    assert refused('person.id -eq "1" –AND').message == (
        "the rule ends too early: expected a condition such as person.givenName -eq \"Ada\"")
    assert refused('person.id -eq -NOT').message.startswith("unexpected -not: expected a value after -eq")
    assert refused('person.id -eq "a""b" "c"').message.startswith('unexpected "c": expected -and, -or')
    assert refused('person.id -eq "a" "b""c"').message.startswith('unexpected "b\\"c"')
    assert refused("person.attributes.n -eq 1 –2").message.startswith("unexpected -2:")


def test_whitespace_of_any_kind_separates_tokens():
    assert parse('person.givenName\u00a0-eq\u2003"Ada"\r\n-or\x0bperson.id -eq "1"')
    assert refused("\u00a0\u2003\n").message.startswith("the rule is empty")
