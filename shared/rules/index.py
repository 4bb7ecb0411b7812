"""Rules indexed by the values they test, so that a person meets only the rules that can match.

For each rule a *necessary condition* is derived from its tree: a set of atoms
(property path, casefolded value) such that whenever the rule holds for a person, the person
has at least one of them among `PersonView.keys`. `-eq "x"` gives {(path, "x")}, `-in [...]`
one atom per value, an -and the cheapest condition among its children, an -or the union of
its children's (none if one child has none), `-any (...)` its body's (an item's atoms are the
person's). Negations, -ne, -startsWith, -contains, -match, orderings, null tests and -all
give none: a rule without a condition is a candidate for every person.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.rules.nodes import (
    NULL,
    NUMBER,
    Comparison,
    Conjunction,
    Disjunction,
    Node,
    Quantifier,
)
from shared.rules.rule import Rule
from shared.rules.view import Atom, PersonView

# Paths most persons share a value of: an atom on them is a poor filter.
_COMMON = {"person.status", "person.affiliations.type", "person.affiliations.source", "person.sources"}


def condition(node: Node) -> frozenset[Atom] | None:
    """Atoms one of which every person the tree holds for has; None when there are none."""
    if isinstance(node, Comparison):
        if node.op not in ("eq", "in") or node.literal.kind == NULL:
            return None
        return frozenset((node.prop.path, _value(v)) for v in node.values)
    if isinstance(node, Quantifier):
        return None if node.every else condition(node.body)
    if isinstance(node, Conjunction):
        options = [c for c in map(condition, node.children) if c is not None]
        return min(options, key=_cost) if options else None
    if isinstance(node, Disjunction):
        options = [condition(c) for c in node.children]
        if any(o is None for o in options):
            return None
        return frozenset().union(*options)
    return None  # a negation


def _value(literal) -> object:
    if literal.kind == NUMBER:
        return literal.value
    if isinstance(literal.value, bool):
        return "true" if literal.value else "false"
    return literal.value.casefold()


def _cost(atoms: frozenset[Atom]) -> int:
    return sum(100 if path in _COMMON else 1 for path, _ in atoms)


class RuleIndex:
    """Rules indexed by the values they test, so a person only meets rules that can match."""

    def __init__(self, rules: Mapping[str, Rule] | None = None):
        self._rules: dict[str, Rule] = {}
        self._atoms: dict[str, frozenset[Atom]] = {}
        self._by_atom: dict[Atom, set[str]] = {}
        self._unindexed: set[str] = set()
        for group_id, rule in (rules or {}).items():
            self.add(group_id, rule)

    def add(self, group_id: str, rule: Rule) -> None:
        """Index (or re-index) the rule of a group."""
        self.remove(group_id)
        self._rules[group_id] = rule
        atoms = condition(rule.tree)
        if atoms is None:
            self._unindexed.add(group_id)
            return
        self._atoms[group_id] = atoms
        for atom in atoms:
            self._by_atom.setdefault(atom, set()).add(group_id)

    def remove(self, group_id: str) -> None:
        if self._rules.pop(group_id, None) is None:
            return
        self._unindexed.discard(group_id)
        for atom in self._atoms.pop(group_id, ()):
            holders = self._by_atom[atom]
            holders.discard(group_id)
            if not holders:
                del self._by_atom[atom]

    def candidates(self, person: PersonView) -> set[str]:
        """Groups whose rule may hold: every true match, plus rules that can't be indexed."""
        found = set(self._unindexed)
        by_atom = self._by_atom
        for key in person.keys:
            holders = by_atom.get(key)
            if holders:
                found |= holders
        return found

    def matches(self, person: PersonView) -> set[str]:
        """Groups whose rule holds for the person."""
        rules = self._rules
        return {g for g in self.candidates(person) if rules[g]._test(person)}

    def unindexed(self) -> set[str]:
        """Groups whose rule every person meets (no necessary condition could be derived)."""
        return set(self._unindexed)

    def __len__(self) -> int:
        return len(self._rules)

    def __contains__(self, group_id: object) -> bool:
        return group_id in self._rules
