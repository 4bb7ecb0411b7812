"""Reconciliation from the target itself: Roster reads what an automatic target holds and
reconciles it as it does posted CSV/JSON (shared/services/reconciliation.py) — on demand
(`POST /api/targets/{id}/reconcile/pull`) and on the hourly timer.

`entra` targets are read by Graph delta: the first run reads the whole tenant, later runs
only what changed since the cursor kept per target (shared/store/directory_state.py);
the memberships read are those of the groups the target's policies and assignments name.
`ldap` and `scim` targets are read whole (paged). Accounts name their person by the id the
connector stored in the target (extension attribute, employeeNumber, externalId), else by
email.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.connectors import ConnectorError, open_connector
from shared.errors import Conflict, NotFound, TargetUnreachable
from shared.models.provisioning import Target
from shared.runtime import Runtime
from shared.services.reconciliation import ActualAccount, reconcile
from shared.store.directory_state import DirectoryState
from shared.store.orders import OrderRepository
from shared.store.targets import TargetRepository

log = logging.getLogger("roster.reconciliation")
READABLE = ("entra", "ldap", "scim")
ENTRA = "entra"


def pull(rt: Runtime, target_id: str, actor: str, create_orders: bool = False) -> dict:
    """Read the target, then reconcile: Verified orders and drift, as `reconcile` reports."""
    target = TargetRepository(rt.store).get(target_id)
    if target is None:
        raise NotFound(f"no target {target_id!r}")
    if target.connector not in READABLE:
        raise Conflict(f"target {target_id!r} is {target.connector}: Roster cannot read it; "
                       "post its accounts to /api/targets/{id}/reconcile instead")
    try:
        rows = _delta_rows(rt, target) if target.connector == ENTRA else _listing(target)
    except ConnectorError as error:
        raise TargetUnreachable(f"target {target_id!r} could not be read: {error.note}") from None
    accounts = [ActualAccount(person_id=r.get("person_id"), email=r.get("email"), active=r.get("active", True),
                              entitlements=r.get("entitlements") or []) for r in rows]
    result = reconcile(rt, target.id, accounts, actor, create_orders)
    result["read"] = {"accounts": len(rows), "by": "delta" if target.connector == ENTRA else "listing"}
    return result


def pull_all(rt: Runtime, actor: str) -> dict[str, str]:
    """Every readable target, one after the other; one that fails does not stop the others."""
    summary: dict[str, str] = {}
    for target in TargetRepository(rt.store).all():
        if target.connector not in READABLE:
            continue
        try:
            result = pull(rt, target.id, actor)
            drift = result["drift"]
            summary[target.id] = (f"{len(result['verified'])} verified, {len(drift['unexpected'])} unexpected, "
                                  f"{len(drift['missing'])} missing")
        except TargetUnreachable as error:
            summary[target.id] = error.detail
            log.warning("reconciliation of %s failed: %s", target.id, error.detail)
    return summary


def _listing(target: Target) -> list[dict]:
    return open_connector(target).accounts(target)


def _delta_rows(rt: Runtime, target: Target) -> list[dict]:
    """Apply the changes since the kept cursor to the kept rows; the rows as accounts."""
    state = DirectoryState(rt.store)
    kept = state.cursor(target.id)
    tracked = sorted(_groups_of(rt, target))
    cursor = {"users": kept.get("users")}
    if kept.get("tracked") == tracked:
        cursor["groups"] = kept.get("groups")
    delta = open_connector(target).delta(target, {k: v for k, v in cursor.items() if v}, set(tracked))
    users = state.users(target.id)
    changed = _apply(users, delta, groups_full=not cursor.get("groups"))
    state.write(target.id, changed)
    state.save_cursor(target.id, {**delta.cursor, "tracked": tracked})
    return [_account(uid, row) for uid, row in users.items()]


def _apply(users: dict[str, dict], delta: Any, groups_full: bool) -> dict[str, dict | None]:
    """Change `users` in place by the delta; returns the rows to write (None: delete)."""
    changed: dict[str, dict | None] = {}
    if delta.full:
        for uid in set(users) - set(delta.users):
            users.pop(uid)
            changed[uid] = None
    for uid, row in delta.users.items():
        if row is None:
            users.pop(uid, None)
            changed[uid] = None
        else:
            users[uid] = changed[uid] = {**row, "groups": (users.get(uid) or {}).get("groups", [])}
    if groups_full:
        for uid, row in users.items():
            if row["groups"]:
                users[uid] = changed[uid] = {**row, "groups": []}
    for pairs, joining in ((delta.joined, True), (delta.left, False)):
        for uid, gid in pairs:
            row = users.get(uid)
            if row is None:
                continue
            groups = set(row["groups"]) | {gid} if joining else set(row["groups"]) - {gid}
            users[uid] = changed[uid] = {**row, "groups": sorted(groups)}
    return changed


def _account(uid: str, row: dict) -> dict:
    entitlements = [f"group:{g}" for g in row.get("groups", [])] + [f"license:{s}" for s in row.get("licenses", [])]
    return {"person_id": row.get("person_id"), "email": row.get("email"), "active": row.get("active", True),
            "entitlements": sorted(entitlements), "external_id": uid}


def _groups_of(rt: Runtime, target: Target) -> set[str]:
    """The group object ids the target's policies and assignments name."""
    named = {p.entitlement for p in TargetRepository(rt.store).policies(target.id)}
    named |= {entitlement for _, entitlement in OrderRepository(rt.store).assigned(target.id)}
    return {e.removeprefix("group:").lower() for e in named if e.startswith("group:")}
