"""The compiled rules of every group, cached per store until a group changes."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from shared.clock import Clock
from shared.models.group import SUSPEND_IMMEDIATE, Group, Membership
from shared.models.person import Person
from shared.rules import PersonView, Rule, RuleIndex, parse
from shared.store.audit import audit_entity
from shared.store.groups import GroupRepository
from shared.store.port import EntityExists, ETagMismatch, TableStore

BUILTIN = Group(
    id=SUSPEND_IMMEDIATE,
    name="Suspend immediately",
    description="Members lose access at once: every account suspended, nothing new granted.",
    kind="static",
    policy="suspend",
)


@dataclass
class RuleBook:
    generation: int
    groups: dict[str, Group]
    rules: dict[str, Rule] = field(default_factory=dict)
    layers: list[RuleIndex] = field(default_factory=list)

    @classmethod
    def build(cls, groups: list[Group], generation: int) -> RuleBook:
        book = cls(generation, {g.id: g for g in groups})
        book.rules = {g.id: parse(g.rule) for g in groups if g.kind == "dynamic" and g.rule}
        depth = layer_depths(book.rules)
        for level in range(max(depth.values(), default=-1) + 1):
            book.layers.append(RuleIndex({g: r for g, r in book.rules.items() if depth[g] == level}))
        return book

    def naive(self) -> RuleBook:
        """The same rules without the index: every rule for every person (for comparison)."""
        depth = layer_depths(self.rules)
        layers = [
            _Everything({g: r for g, r in self.rules.items() if depth[g] == level})
            for level in range(len(self.layers))
        ]
        return RuleBook(self.generation, self.groups, self.rules, layers)

    def effective(
        self,
        person: Person,
        statics: list[Membership],
        at: datetime,
        tz: ZoneInfo,
        known: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """Group id → reason, for every group the person is in at `at`. Rule reasons already
        `known` (memberships that continue) are kept rather than explained again."""
        known = known or {}
        found = {
            m.group_id: m.reason for m in statics if m.group_id in self.groups and m.active_at(at)
        }
        for layer in self.layers:
            view = PersonView.of(person, at, tz, frozenset(found))
            for group_id in sorted(layer.matches(view)):
                found[group_id] = known.get(group_id) or "rule: " + self.rules[group_id].explain(view).summary()
        return found


class _Everything:
    def __init__(self, rules: dict[str, Rule]):
        self.rules = rules

    def matches(self, view: PersonView) -> set[str]:
        return {g for g, rule in self.rules.items() if rule.evaluate(view)}


def layer_depths(rules: dict[str, Rule]) -> dict[str, int]:
    """0 for rules without memberOf on other dynamic groups, else one more than they need."""
    depth: dict[str, int] = {}

    def visit(group_id: str, path: tuple[str, ...]) -> int:
        if group_id in depth:
            return depth[group_id]
        if group_id in path:
            raise ValueError(f"memberOf cycle through {group_id}")
        needs = [r for r in rules[group_id].groups() if r in rules]
        depth[group_id] = 1 + max((visit(r, path + (group_id,)) for r in needs), default=-1)
        return depth[group_id]

    for group_id in rules:
        visit(group_id, ())
    return depth


_books: weakref.WeakKeyDictionary[TableStore, RuleBook] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def rulebook(store: TableStore, clock: Clock) -> RuleBook:
    """The current rule book: one small read to check the generation, a rebuild when stale."""
    repo = GroupRepository(store)
    generation = repo.generation()
    book = _books.get(store)
    if book is not None and book.generation == generation:
        return book
    groups = repo.all()
    if not any(g.id == SUSPEND_IMMEDIATE for g in groups):
        ensure_builtin(repo, clock)
        generation, groups = repo.generation(), repo.all()
    book = RuleBook.build(groups, generation)
    with _lock:
        _books[store] = book
    return book


def ensure_builtin(repo: GroupRepository, clock: Clock) -> None:
    """suspend-immediate exists from the first start."""
    now = clock.now()
    group = BUILTIN.model_copy(update={"version": 1, "updated_at": now})
    audit = audit_entity("groups", now, "roster", "group.created", "built-in group", {"group_id": group.id})
    try:
        repo.write(group, None, audit, create=True)
    except (EntityExists, ETagMismatch):
        pass
