"""Reconciliation: what a target actually holds, against what Roster ordered.

Executed orders the data confirms become Verified; accounts nobody should have, and
desired ones that are missing, are reported as drift (and, when asked, become orders).
"""

from __future__ import annotations

import csv
import io
import json

from pydantic import BaseModel, Field, ValidationError

from shared.errors import FieldError, MalformedBody, NotFound
from shared.models.provisioning import Action, Assignment, OrderState
from shared.runtime import Runtime
from shared.services.eligibility import persons_with_email
from shared.services.provisioning import evaluate_provisioning, transition
from shared.store.orders import OrderRepository
from shared.store.targets import TargetRepository

MAX_ROWS = 100_000
KEY_COLUMNS = ("person_id", "email", "account")
CONFIRMED_BY_PRESENCE = {Action.create_account, Action.grant, Action.restore, Action.reset_credentials,
                         Action.update_account}


class ActualAccount(BaseModel):
    person_id: str | None = None
    email: str | None = None
    account: str | None = None  # the account id in the target, as staff recorded it on confirmation
    entitlements: list[str] = Field(default_factory=list)
    active: bool = True


def parse_accounts(body: bytes, content_type: str) -> list[ActualAccount]:
    """JSON `{"accounts": [...]}` or the CSV a manual system exports (person_id, email or
    account — the account id recorded on confirmation —, entitlement, active): 400 naming
    the problem when it does not parse."""
    try:
        if "csv" in content_type:
            return _from_csv(body.decode("utf-8-sig"))
        data = json.loads(body)
        rows = data.get("accounts") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise MalformedBody('expected {"accounts": [...]}', [FieldError("accounts", "a list is required")])
        if len(rows) > MAX_ROWS:
            raise MalformedBody(f"at most {MAX_ROWS} accounts", [FieldError("accounts", f"at most {MAX_ROWS}")])
        return [ActualAccount.model_validate(row) for row in rows]
    except (ValueError, UnicodeDecodeError, ValidationError, csv.Error) as error:
        if isinstance(error, MalformedBody):
            raise
        raise MalformedBody(f"the reconciliation data does not parse: {str(error)[:300]}") from None


def reconcile(rt: Runtime, target_id: str, accounts: list[ActualAccount], actor: str, create_orders: bool = False) -> dict:
    target = TargetRepository(rt.store).get(target_id)
    if target is None:
        raise NotFound(f"no target {target_id!r}")
    repo = OrderRepository(rt.store)
    actual: dict[tuple[str, str], bool] = {}
    unknown = []
    recorded = repo.accounts(target_id)
    for row in accounts:
        person_id = _person_of(rt, row, recorded)
        if person_id is None:
            unknown.append(row.email or row.account or "")
            continue
        actual[(person_id, "account")] = row.active
        for entitlement in row.entitlements:
            actual[(person_id, entitlement)] = True
    believed = {(p, e) for p, e in repo.assigned(target_id)}
    verified = []
    for person_id in sorted({p for p, _ in actual} | {p for p, _ in believed}):
        for order in repo.of_person(person_id):
            if order.target_id != target_id or order.state != OrderState.executed:
                continue
            if _confirms(order.action, actual.get((person_id, order.entitlement))):
                transition(rt, order.id, OrderState.verified, actor, "confirmed by reconciliation",
                           allowed={OrderState.executed})
                verified.append(order.id)
    unexpected = sorted(k for k in actual if k not in believed)
    missing = sorted(k for k in believed if k not in actual)
    result = {
        "target_id": target_id,
        "verified": verified,
        "drift": {
            "unexpected": [{"person_id": p, "entitlement": e} for p, e in unexpected],
            "missing": [{"person_id": p, "entitlement": e} for p, e in missing],
            "unknown_accounts": len(unknown),
        },
        "orders": [],
    }
    if create_orders:
        result["orders"] = _drift_orders(rt, target_id, unexpected, missing, actor)
    return result


def _person_of(rt: Runtime, row: ActualAccount, recorded: dict[str, str]) -> str | None:
    """Whose account a row is: by person id, by the account id recorded on confirmation, by email."""
    if row.person_id or (row.account and row.account in recorded):
        return row.person_id or recorded[row.account]
    return next((p.id for p in persons_with_email(rt, row.email)), None) if row.email else None


def _confirms(action: Action, present: bool | None) -> bool:
    if action in CONFIRMED_BY_PRESENCE:
        return present is True
    if action in (Action.suspend, Action.disable_account):
        return present is False or present is None
    return present is None  # revoke, delete_account: gone


def _drift_orders(rt: Runtime, target_id: str, unexpected, missing, actor: str) -> list[str]:
    """Drift becomes orders: the assignment is forgotten (missing) or claimed (unexpected),
    and the person's next evaluation issues what brings the target back in line."""
    repo = OrderRepository(rt.store)
    people = {p for p, _ in missing} | {p for p, _ in unexpected}
    for person_id in people:
        changed = []
        for a in repo.assignments(person_id):
            if a.target_id != target_id:
                continue
            if (person_id, a.entitlement) in missing and a.status == "active":
                changed.append(a.model_copy(update={"status": "removed"}))
        for p, entitlement in unexpected:
            if p == person_id and not any(a.entitlement == entitlement and a.target_id == target_id
                                          for a in repo.assignments(person_id)):
                changed.append(Assignment(person_id=p, target_id=target_id, entitlement=entitlement,
                                          status="active", order_id="reconciliation", since=rt.clock.now()))
        if changed:
            repo.commit(person_id, [], changed, [])
    created = []
    for person_id in sorted(people):
        if person_id.startswith("ext-"):
            continue
        created += [o.id for o in evaluate_provisioning(rt, person_id, f"drift found by {actor}", actor)]
    return created


def _from_csv(text: str) -> list[ActualAccount]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not (set(KEY_COLUMNS) & set(reader.fieldnames)):
        raise MalformedBody("the CSV needs a person_id, email or account column",
                            [FieldError("csv", "person_id, email or account")])
    merged: dict[str, ActualAccount] = {}
    for n, row in enumerate(reader, start=2):
        cells = {column: (row.get(column) or "").strip() or None for column in KEY_COLUMNS}
        key = next((f"{column}:{cells[column]}" for column in KEY_COLUMNS if cells[column]), None)
        if key is None:
            raise MalformedBody(f"CSV line {n} names no person_id, email or account",
                                [FieldError(f"csv line {n}", "empty")])
        active = (row.get("active") or "true").strip().lower() not in ("false", "0", "no", "disabled")
        account = merged.setdefault(key, ActualAccount(**cells, active=active))
        entitlement = (row.get("entitlement") or "").strip()
        if entitlement and entitlement != "account":
            account.entitlements.append(entitlement)
        if len(merged) > MAX_ROWS:
            raise MalformedBody(f"at most {MAX_ROWS} accounts")
    return list(merged.values())
