"""A parsed rule: evaluate it on a person at an instant, explain it, list what it depends on."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from shared.rules.compiler import compile_node
from shared.rules.nodes import (
    ITEM,
    MEMBER_OF,
    Comparison,
    Conjunction,
    Disjunction,
    Negation,
    Node,
    Quantifier,
    comparisons,
)
from shared.rules.parser import parse_tree
from shared.rules.view import PersonView


@dataclass(frozen=True)
class ClauseResult:
    text: str  # the clause as written, e.g. 'affiliation.type -eq "employee"'
    held: bool
    position: int  # 0-based offset of the clause in the rule
    decisive: bool = False  # part of the reason for the result (what summary() lists)


@dataclass(frozen=True)
class Explanation:
    """Each clause of a rule for one person, in the order written, and whether it held.

    Inside `-any (...)` clauses are those of the first item that satisfied it (or, when none
    did, of the item that came closest); inside `-all (...)` those of the first item that
    failed it. `decisive` marks the clauses that decided the result: all of a true -and, the
    first true branch of an -or, and so on.
    """

    result: bool
    clauses: list[ClauseResult]

    def summary(self) -> str:
        """The reason, e.g. 'affiliation.type -eq "employee" held; affiliation.organization … held'."""
        parts = [f"{c.text} {'held' if c.held else 'did not hold'}" for c in self.clauses if c.decisive]
        return "; ".join(parts) or ("the rule held" if self.result else "the rule did not hold")


class Rule:
    """A rule checked when it was parsed; evaluating it cannot fail."""

    __slots__ = ("text", "tree", "_test", "_groups", "_properties", "__weakref__")

    def __init__(self, text: str, tree: Node):
        self.text = text
        self.tree = tree
        self._test = compile_node(tree)
        self._groups = frozenset(_groups(tree))
        self._properties = frozenset(_properties(tree))

    def evaluate(self, person: PersonView) -> bool:
        return self._test(person)

    def explain(self, person: PersonView) -> Explanation:
        result, clauses, decisive = _explain(self.tree, person, self.text)
        return Explanation(result, [replace(c, decisive=c.position in decisive) for c in clauses])

    def groups(self) -> set[str]:
        """Ids of the groups the rule reads through person.memberOf (casefolded)."""
        return set(self._groups)

    def properties(self) -> set[str]:
        """Normalised paths it reads, e.g. {"person.affiliations", "person.affiliations.type"}."""
        return set(self._properties)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rule) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Rule({self.text!r})"


@lru_cache(maxsize=4096)
def parse(text: str) -> Rule:
    """Parse and check a rule; RuleError (with position, line and column) when it can't be used."""
    return Rule(text, parse_tree(text))


def _groups(tree: Node) -> set[str]:
    return {
        value.value.casefold()
        for clause in comparisons(tree)
        if clause.prop.scope == ITEM and clause.prop.path == MEMBER_OF.path
        for value in clause.values
    }


def _properties(tree: Node) -> set[str]:
    found = {c.prop.path for c in comparisons(tree)}
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Quantifier):
            found.add(node.prop.path)
            stack.append(node.body)
        elif isinstance(node, Negation):
            stack.append(node.child)
        elif isinstance(node, (Conjunction, Disjunction)):
            stack.extend(node.children)
    return found


Outcome = tuple[bool, list[ClauseResult], set[int]]  # value, clauses, positions of decisive ones


def _explain(node: Node, record: Any, text: str) -> Outcome:
    if isinstance(node, Comparison):
        held = node.test(record)
        return held, [ClauseResult(text[node.start:node.end], held, node.start)], {node.start}
    if isinstance(node, Negation):
        value, clauses, decisive = _explain(node.child, record, text)
        return not value, clauses, decisive
    if isinstance(node, Quantifier):
        return _explain_quantifier(node, record, text)
    outcomes = [_explain(child, record, text) for child in node.children]
    clauses = [c for _, found, _ in outcomes for c in found]
    wanted = isinstance(node, Disjunction)  # the value that settles it: true for -or, false for -and
    settling = next((o for o in outcomes if o[0] == wanted), None)
    if settling is not None:
        return wanted, clauses, settling[2]
    return not wanted, clauses, set().union(*(o[2] for o in outcomes))


def _explain_quantifier(node: Quantifier, record: Any, text: str) -> Outcome:
    outcomes = [_explain(node.body, item, text) for item in record.colls[node.prop.key]]
    if not outcomes:  # nothing to test: -any fails, -all holds
        clauses = [ClauseResult(text[c.start:c.end], node.every, c.start) for c in comparisons(node.body)]
        return node.every, clauses, set() if node.every else {c.position for c in clauses}
    settling = next((o for o in outcomes if o[0] != node.every), None)
    if settling is not None:  # the witness of an -any, the counterexample of an -all
        return settling
    if not node.every:  # no item satisfies -any: show the one that came closest
        return max(outcomes, key=lambda o: sum(c.held for c in o[1]))
    clauses = [
        replace(first, held=all(o[1][i].held for o in outcomes))
        for i, first in enumerate(outcomes[0][1])
    ]
    return True, clauses, set().union(*(o[2] for o in outcomes))
