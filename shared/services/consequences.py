"""Consequences before commitment: the provisioning orders a change of groups would cause
(docs/architecture.md §5, Provisioning). Reads only; nothing is written.

The rule preview and a person's upcoming changes use it to say, per target, which accounts
would be created or disabled and which entitlements granted or revoked. Provisioning's own
desired state comes from the same `PolicyBook`, so the preview and the real orders agree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from shared.models.provisioning import Action, Target
from shared.runtime import Runtime
from shared.services.rulebook import RuleBook, rulebook
from shared.store.orders import OrderRepository
from shared.store.targets import TargetRepository

ACCOUNT = "account"


@dataclass(frozen=True)
class PolicyBook:
    """Every target, what each group is granted in it, and the groups' rules as read with
    them (one read serves a whole bulk chunk on SQLite, whose unit of work is one transaction)."""

    targets: dict[str, Target]
    grants: dict[str, list[tuple[str, str]]]  # group id → [(target id, entitlement)]
    rules: RuleBook

    @classmethod
    def load(cls, rt: Runtime) -> PolicyBook:
        repo = TargetRepository(rt.store)
        targets = {t.id: t for t in repo.all()}
        grants: dict[str, list[tuple[str, str]]] = {}
        for target_id in targets:
            for policy in repo.policies(target_id):
                grants.setdefault(policy.group_id, []).append((target_id, policy.entitlement))
        return cls(targets, grants, rulebook(rt.store, rt.clock))

    def desired(self, groups: set[str]) -> dict[tuple[str, str], str]:
        """(target, entitlement) → the group that grants it; an entitlement implies the account."""
        found: dict[tuple[str, str], str] = {}
        for group_id in sorted(groups):
            for target_id, entitlement in self.grants.get(group_id, []):
                found.setdefault((target_id, entitlement), group_id)
                found.setdefault((target_id, ACCOUNT), group_id)
        return found

    def suspension(self, groups: list[str] | set[str]) -> str | None:
        """The first of `groups` whose policy is `suspend` (nothing granted while in it), if any."""
        return suspension(self.rules, groups)

    def granting_groups(self, target_id: str) -> list[str]:
        return sorted(g for g, pairs in self.grants.items() if any(t == target_id for t, _ in pairs))


def suspension(rules: RuleBook, groups: list[str] | set[str]) -> str | None:
    """The first of `groups` whose policy in `rules` is `suspend`, if any."""
    return next((g for g in groups if g in rules.groups and rules.groups[g].policy == "suspend"), None)


def would_follow(book: PolicyBook, groups: set[str], held: set[tuple[str, str]], suspended: bool) -> list[dict]:
    """The orders that bring `held` in line with what `groups` grant: accounts first per target."""
    desired = book.desired(groups)
    items = []
    for key in sorted(set(desired) | held, key=lambda k: (k[0], k[1] != ACCOUNT, k[1])):
        target = book.targets.get(key[0])
        if target is None or (key in desired) == (key in held) or (key in desired and suspended):
            continue
        if key in desired:
            action = Action.create_account if key[1] == ACCOUNT else Action.grant
        elif key[1] != ACCOUNT:
            action = Action.revoke
        else:
            action = Action.delete_account if target.on_remove == "delete" else Action.disable_account
        items.append({"target_id": key[0], "target": target.name, "entitlement": key[1], "action": action.value})
    return items


def for_person(rt: Runtime, person_id: str, groups: set[str], book: PolicyBook | None = None) -> list[dict]:
    """The orders that would follow if the person's groups were `groups`."""
    book = book or PolicyBook.load(rt)
    held = {(a.target_id, a.entitlement) for a in OrderRepository(rt.store).assignments(person_id)
            if a.status != "removed"}
    return would_follow(book, groups, held, suspended=book.suspension(groups) is not None)


def per_target(items: list[dict]) -> dict[str, dict[str, int]]:
    """Counts per target name and action, for a summary line."""
    counts: dict[str, Counter] = {}
    for item in items:
        counts.setdefault(item["target"], Counter())[item["action"]] += 1
    return {target: dict(sorted(c.items())) for target, c in sorted(counts.items())}
