"""What a checked rule is made of: properties, values and the tree of conditions."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.models.person import AffiliationType

# Kinds of property.
TEXT = "text"  # one string, compared case-insensitively
DATE = "date"  # a calendar day, seen as its ISO 8601 text YYYY-MM-DD
VALUE = "value"  # an attribute: text, number, true/false or null
STRINGS = "strings"  # a collection of strings, tested with -any/-all and `_`
RECORDS = "records"  # a collection of affiliations, tested with -any/-all and `affiliation.`

# Scopes: where a property is read from.
PERSON = "person"
AFFILIATION = "affiliation"
ITEM = "item"


@dataclass(frozen=True)
class Property:
    """A property a rule may test. `key` is where a view record keeps it; `path` names it."""

    path: str  # normalised, e.g. "person.affiliations.organization", "person.attributes.grade"
    key: str  # key in a record: "givenName", "attributes.grade", "_", "affiliations"
    kind: str
    scope: str
    choices: frozenset[str] | None = None  # the values -eq/-in may name (casefolded)


def _person(key: str, kind: str, choices: frozenset[str] | None = None) -> Property:
    return Property(f"person.{key}", key, kind, PERSON, choices)


def _affiliation(key: str, kind: str, choices: frozenset[str] | None = None) -> Property:
    return Property(f"person.affiliations.{key}", key, kind, AFFILIATION, choices)


STATUSES = frozenset({"active", "inactive"})
AFFILIATION_TYPES = frozenset(t.value for t in AffiliationType)

# Looked up by casefolded name: property names are case-insensitive, as in Entra.
PERSON_PROPERTIES: dict[str, Property] = {
    p.key.casefold(): p
    for p in (
        _person("id", TEXT),
        _person("givenName", TEXT),
        _person("familyName", TEXT),
        _person("displayName", TEXT),
        _person("email", TEXT),
        _person("birthDate", DATE),
        _person("status", TEXT, STATUSES),
        _person("emails", STRINGS),
        _person("sources", STRINGS),
        _person("memberOf", STRINGS),
        _person("affiliations", RECORDS),
    )
}
AFFILIATION_PROPERTIES: dict[str, Property] = {
    p.key.casefold(): p
    for p in (
        _affiliation("type", TEXT, AFFILIATION_TYPES),
        _affiliation("organization", TEXT),
        _affiliation("title", TEXT),
        _affiliation("source", TEXT),
        _affiliation("start", DATE),
        _affiliation("end", DATE),
    )
}
MEMBER_OF = PERSON_PROPERTIES["memberof"]


def attribute(scope: str, name: str) -> Property:
    """`attributes.<name>` of a person or an affiliation (names are case-insensitive)."""
    key = f"attributes.{name.casefold()}"
    prefix = "person." if scope == PERSON else "person.affiliations."
    return Property(prefix + key, key, VALUE, scope)


def item(collection: Property) -> Property:
    """`_`: one string of a collection such as person.emails."""
    return Property(collection.path, "_", TEXT, ITEM)


# Operators, by casefolded name (without the dash), with the spelling shown in messages.
OPERATORS: dict[str, str] = {
    name.casefold(): f"-{name}"
    for name in (
        "eq", "ne", "startsWith", "notStartsWith", "endsWith", "notEndsWith", "contains",
        "notContains", "match", "notMatch", "in", "notIn", "lt", "le", "gt", "ge",
    )
}
NEGATIONS = {
    "ne": "eq", "notstartswith": "startswith", "notendswith": "endswith",
    "notcontains": "contains", "notmatch": "match", "notin": "in",
}
ORDERING = frozenset({"lt", "le", "gt", "ge"})
TEXT_ONLY = frozenset({"startswith", "endswith", "contains", "match"})

# Kinds of literal value.
STRING = "string"
NUMBER = "number"
BOOLEAN = "boolean"
NULL = "null"
LIST = "list"


@dataclass(frozen=True)
class Literal:
    kind: str
    value: Any  # str (as written, unescaped), float, bool, None, or tuple[Literal, ...]
    start: int
    end: int


@dataclass(eq=False)
class Comparison:
    """`<property> -<operator> <value>`, the clause an explanation reports on."""

    prop: Property
    op: str  # casefolded name without the dash: "eq", "notstartswith"
    literal: Literal
    start: int
    end: int
    # Filled by the compiler: the check on one record (a person, an affiliation, an item).
    test: Callable[[Any], bool] = field(default=lambda record: False, repr=False)

    @property
    def values(self) -> tuple[Literal, ...]:
        return self.literal.value if self.literal.kind == LIST else (self.literal,)


@dataclass(eq=False)
class Negation:
    child: Node
    start: int
    end: int


@dataclass(eq=False)
class Conjunction:
    children: list[Node]
    start: int
    end: int


@dataclass(eq=False)
class Disjunction:
    children: list[Node]
    start: int
    end: int


@dataclass(eq=False)
class Quantifier:
    """`person.affiliations -any (...)`, `person.emails -all (_ -endsWith "...")`."""

    prop: Property
    every: bool  # -all when true, -any when false
    body: Node
    start: int
    end: int


Node = Comparison | Negation | Conjunction | Disjunction | Quantifier


def comparisons(node: Node) -> list[Comparison]:
    """The clauses of a tree in the order they are written."""
    found: list[Comparison] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Comparison):
            found.append(current)
        elif isinstance(current, Negation):
            stack.append(current.child)
        elif isinstance(current, Quantifier):
            stack.append(current.body)
        else:
            stack.extend(reversed(current.children))
    return found


_NUMERIC_TEXT = re.compile(r"[+-]?\d+(?:\.\d+)?")


def numeric(value: str) -> float | None:
    """The number a text attribute reads as ("3", " -2.5 "), or None."""
    return float(value) if _NUMERIC_TEXT.fullmatch(value.strip()) else None
