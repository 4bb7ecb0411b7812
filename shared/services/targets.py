"""Targets and their policies (docs/architecture.md §5, Provisioning): register, change and
read target systems, and grant an entitlement in a target to a group's members.

Every change is audited in the same batch as the change. A new policy re-provisions the
group's current members through `group-update`.
"""

from __future__ import annotations

from typing import Any

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
    return TargetRepository(rt.store).all()


def get_target(rt: Runtime, target_id: str) -> Target:
    """The target, or NotFound (404)."""
    target = TargetRepository(rt.store).get(target_id)
    if target is None:
        raise NotFound(f"no target {target_id!r}")
    return target


def target_with_policies(rt: Runtime, target_id: str) -> dict[str, Any]:
    """The target as JSON with its `policies`."""
    target = get_target(rt, target_id)
    return {**target.model_dump(mode="json"), "policies": TargetRepository(rt.store).policies(target.id)}


def create_target(rt: Runtime, target: Target, actor: str) -> Target:
    """Register a new target; Conflict (409) when the id is taken, InvalidInput (422) when
    its connector is not one Roster has."""
    check_connector(target)
    audit = audit_entity(TARGETS, rt.clock.now(), actor, "target.created", f"created {target.id}",
                         {"target_id": target.id, "connector": target.connector})
    try:
        TargetRepository(rt.store).save(target, audit, create=True)
    except EntityExists:
        raise Conflict(f"target {target.id!r} exists already") from None
    return target


def update_target(rt: Runtime, target_id: str, changes: dict[str, Any], body_id: str | None, actor: str) -> Target:
    """Replace the target's settings with `changes` (its id stays the path's)."""
    get_target(rt, target_id)
    if body_id not in (None, target_id):
        raise InvalidInput("id in the body differs from the path", [FieldError("id", "must match the path")])
    target = Target.model_validate({**changes, "id": target_id})
    check_connector(target)
    audit = audit_entity(TARGETS, rt.clock.now(), actor, "target.updated", f"updated {target_id}",
                         {"target_id": target_id, "connector": target.connector})
    TargetRepository(rt.store).save(target, audit)
    return target


def add_policy(rt: Runtime, target_id: str, policy: Policy, actor: str) -> dict[str, Any]:
    """Grant `policy.entitlement` in the target to the group's members; they are provisioned
    through the queue (`members_to_provision` says how many)."""
    target = get_target(rt, target_id)
    problem = target.entitlement_problem(policy.entitlement)
    if problem:
        raise InvalidInput(f"entitlement: {problem}", [FieldError("entitlement", problem)])
    policy = policy.model_copy(update={"entitlement": target.normal_entitlement(policy.entitlement)})
    if policy.group_id not in rulebook(rt.store, rt.clock).groups:
        raise InvalidInput(f"no group {policy.group_id!r}", [FieldError("group_id", "unknown group")])
    why = f"policy {target.id}/{policy.entitlement} added"
    audit = audit_entity(f"policy:{target.id}", rt.clock.now(), actor, "policy.added", why,
                         {"target_id": target.id, "group_id": policy.group_id, "entitlement": policy.entitlement})
    TargetRepository(rt.store).add_policy(target.id, policy, audit)
    announced = announce_members(rt, policy.group_id, why)
    return {**policy.model_dump(), "members_to_provision": announced}
