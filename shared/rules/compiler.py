"""A checked tree → one Python closure per node, made once when the rule is parsed.

Constants are folded, lists turned into frozensets and regexes compiled here, so evaluating
a rule is plain calls and dict look-ups on a PersonView: no walking of the tree.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from shared.rules.nodes import (
    BOOLEAN,
    NEGATIONS,
    NULL,
    NUMBER,
    Comparison,
    Conjunction,
    Literal,
    Negation,
    Node,
    Quantifier,
)
from shared.rules.regex import compile_pattern

Test = Callable[[Any], bool]  # takes a view Record (person, affiliation or item)
_ORDER = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}


def compile_node(node: Node) -> Test:
    if isinstance(node, Comparison):
        node.test = _comparison(node)
        return node.test
    if isinstance(node, Negation):
        child = compile_node(node.child)
        return lambda r: not child(r)
    if isinstance(node, Quantifier):
        return _quantifier(node.prop.key, node.every, compile_node(node.body))
    tests = tuple(compile_node(c) for c in node.children)
    return _all(tests) if isinstance(node, Conjunction) else _any(tests)


def _all(tests: tuple[Test, ...]) -> Test:
    if len(tests) == 2:
        first, second = tests
        return lambda r: first(r) and second(r)

    def every(r: Any) -> bool:
        for test in tests:
            if not test(r):
                return False
        return True

    return every


def _any(tests: tuple[Test, ...]) -> Test:
    if len(tests) == 2:
        first, second = tests
        return lambda r: first(r) or second(r)

    def some(r: Any) -> bool:
        for test in tests:
            if test(r):
                return True
        return False

    return some


def _quantifier(collection: str, every: bool, body: Test) -> Test:
    if every:
        def all_of(r: Any) -> bool:
            for item in r.colls[collection]:
                if not body(item):
                    return False
            return True

        return all_of

    def any_of(r: Any) -> bool:
        for item in r.colls[collection]:
            if body(item):
                return True
        return False

    return any_of


def _comparison(node: Comparison) -> Test:
    key, op, literal = node.prop.key, node.op, node.literal
    if literal.kind == NULL:
        if op == "eq":
            return lambda r: key not in r.text
        return lambda r: key in r.text
    if op == "ne" and literal.kind != NUMBER:
        folded = _text(literal)
        return lambda r: r.text.get(key) != folded
    if op in NEGATIONS:
        positive = _positive(key, NEGATIONS[op], literal)
        return lambda r: not positive(r)
    return _positive(key, op, literal)


def _text(literal: Literal) -> str:
    if literal.kind == BOOLEAN:
        return "true" if literal.value else "false"
    return literal.value.casefold()


def _positive(key: str, op: str, literal: Literal) -> Test:
    if op == "eq":
        if literal.kind == NUMBER:
            number = literal.value
            return lambda r: r.num.get(key) == number
        folded = _text(literal)
        return lambda r: r.text.get(key) == folded
    if op == "in":
        texts = frozenset(_text(v) for v in literal.value if v.kind != NUMBER)
        numbers = frozenset(v.value for v in literal.value if v.kind == NUMBER)
        if not numbers:
            return lambda r: r.text.get(key) in texts
        if not texts:
            return lambda r: r.num.get(key) in numbers
        return lambda r: r.text.get(key) in texts or r.num.get(key) in numbers
    if op == "match":
        pattern = compile_pattern(literal.value)  # checked when the rule was saved

        def matches(r: Any) -> bool:
            value = r.orig.get(key)
            return value is not None and pattern.search(value) is not None

        return matches
    if op in _ORDER:
        compare = _ORDER[op]
        if literal.kind == NUMBER:
            number = literal.value

            def numerically(r: Any) -> bool:
                value = r.num.get(key)
                return value is not None and compare(value, number)

            return numerically
        bound = literal.value.casefold()

        def textually(r: Any) -> bool:  # ISO dates order as their text does
            value = r.text.get(key)
            return value is not None and compare(value, bound)

        return textually
    folded = literal.value.casefold()
    method = {"startswith": str.startswith, "endswith": str.endswith, "contains": str.__contains__}[op]

    def text_test(r: Any) -> bool:
        value = r.text.get(key)
        return value is not None and method(value, folded)

    return text_test
