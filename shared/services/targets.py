"""Targets and their policies (docs/architecture.md §5, Provisioning): register and change a
target, grant an entitlement in it to a group's members, withdraw that grant. Every change
is written with its audit record; a policy change re-provisions the group's members.
"""

from __future__ import annotations

from typing import Any

from shared import outbound, secrets
from shared.connectors import check_connector
from shared.errors import Conflict, FieldError, InvalidInput, NotFound
from shared.models.provisioning import Policy, Target
from shared.runtime import Runtime
from shared.services.provisioning import announce_members
from shared.services.rulebook import rulebook
from shared.store.audit import audit_entity
from shared.store.port import EntityExists
from shared.store.targets import TARGETS, TargetRepository


def list_targets(rt: Runtime) -> list[Target]:
    return sorted(TargetRepository(rt.store).all(), key=lambda t: t.id)


def get_target(rt: Runtime, target_id: str) -> Target:
    found = TargetRepository(rt.store).get(target_id)
    if found is None:
        raise NotFound(f"no target {target_id!r}")
    return found


def policies(rt: Runtime, target_id: str) -> list[Policy]:
    return sorted(TargetRepository(rt.store).policies(target_id), key=lambda p: (p.group_id, p.entitlement))


def target_with_policies(rt: Runtime, target_id: str) -> dict[str, Any]:
    """The target as JSON with its `policies`."""
    target = get_target(rt, target_id)
    return {**target.model_dump(mode="json"), "policies": policies(rt, target.id)}


def create_target(rt: Runtime, target: Target, actor: str) -> Target:
    """Register a new target; Conflict (409) when the id is taken, InvalidInput (422) when
    its connector is not one Roster has."""
    checked(target)
    try:
        TargetRepository(rt.store).save(target, _audit(rt, TARGETS, actor, "target.created", target), create=True)
    except EntityExists:
        raise Conflict(f"target {target.id!r} exists already", [FieldError("id", "taken")]) from None
    return target


def update_target(rt: Runtime, target_id: str, data: dict, actor: str) -> Target:
    """Replace the target's definition (the id stays; settings not given are kept)."""
    current = get_target(rt, target_id)
    if data.get("id") not in (None, target_id):
        raise InvalidInput("id in the body differs from the path", [FieldError("id", "must match the path")])
    merged = {**data, "id": target_id, "settings": data.get("settings", current.settings)}
    target = checked(Target.model_validate(merged))
    TargetRepository(rt.store).save(target, _audit(rt, TARGETS, actor, "target.updated", target))
    return target


def add_policy(rt: Runtime, target_id: str, policy: Policy, actor: str) -> tuple[Policy, int]:
    """Grant (the entitlement as the target's connector names it); returns the policy and
    how many members are being provisioned."""
    target = get_target(rt, target_id)
    policy = _normal(target, policy)
    if policy.group_id not in rulebook(rt.store, rt.clock).groups:
        raise InvalidInput(f"no group {policy.group_id!r}", [FieldError("group_id", "unknown group")])
    audit = _audit(rt, f"policy:{target.id}", actor, "policy.added", target, policy)
    TargetRepository(rt.store).add_policy(target.id, policy, audit)
    return policy, announce_members(rt, policy.group_id, f"policy {target.id}/{policy.entitlement} added")


def remove_policy(rt: Runtime, target_id: str, policy: Policy, actor: str) -> tuple[Policy, int]:
    """Withdraw a grant; the members lose what no other group grants (returns the policy and
    how many members are re-provisioned)."""
    target = get_target(rt, target_id)
    policy = _normal(target, policy)
    if policy not in TargetRepository(rt.store).policies(target.id):
        raise NotFound(f"{target.id} has no policy granting {policy.entitlement!r} to {policy.group_id!r}")
    audit = _audit(rt, f"policy:{target.id}", actor, "policy.removed", target, policy)
    TargetRepository(rt.store).remove_policy(target.id, policy, audit)
    return policy, announce_members(rt, policy.group_id, f"policy {target.id}/{policy.entitlement} removed")


def checked(target: Target) -> Target:
    """A target that may be saved: a connector Roster has, every URL (`url`, `*_url`) passing
    the outbound check (an http(s) one whole, another scheme, LDAP's, for its address), every
    secret a `ROSTER_TARGET_SECRET_*` name (docs/security.md)."""
    check_connector(target)
    secrets.check_settings(target.settings)
    for key, value in target.settings.items():
        if key == "url" or key.endswith("_url"):
            outbound.check_address_of(value, f"settings.{key}")
    return target


def _normal(target: Target, policy: Policy) -> Policy:
    """The policy with the entitlement as the connector names it, or InvalidInput on `entitlement`."""
    problem = target.entitlement_problem(policy.entitlement)
    if problem:
        raise InvalidInput(f"entitlement: {problem}", [FieldError("entitlement", problem)])
    return policy.model_copy(update={"entitlement": target.normal_entitlement(policy.entitlement)})


def _audit(rt: Runtime, partition: str, actor: str, action: str, target: Target, policy: Policy | None = None):
    """The record of a change: what, never a setting's value (settings may hold secrets)."""
    details = {"target_id": target.id, "connector": str(target.connector), "settings": sorted(target.settings)}
    why = f"{action.split('.')[1]} {target.id}"
    if policy is not None:
        details.update(group_id=policy.group_id, entitlement=policy.entitlement)
        why = f"policy {target.id}/{policy.entitlement} {action.split('.')[1]}"
    return audit_entity(partition, rt.clock.now(), actor, action, why, details)
