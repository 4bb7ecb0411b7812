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
from shared.models.provisioning import Assignment, Move, OrderState
from shared.runtime import Runtime
from shared.services.eligibility import persons_with_email
from shared.services.provisioning import ACCOUNT, evaluate_provisioning, transition
from shared.store.orders import OrderRepository
from shared.store.targets import TargetRepository

MAX_ROWS = 100_000
KEY_COLUMNS = ("person_id", "email", "account")


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
    """Compare what target `target_id` holds with what Roster ordered: Executed orders the
    data confirms (each action's `confirmed_by` trait) become Verified; the rest is drift,
    turned into orders when `create_orders`."""
    if TargetRepository(rt.store).get(target_id) is None:
        raise NotFound(f"no target {target_id!r}")
    actual, unknown = _actual(rt, target_id, accounts)
    believed = set(OrderRepository(rt.store).assigned(target_id))
    verified = _verify(rt, target_id, actual, believed, actor)
    unexpected = sorted(k for k in actual if k not in believed)
    missing = sorted(k for k in believed if k not in actual)
    return {
        "target_id": target_id,
        "verified": verified,
        "drift": {
            "unexpected": [{"person_id": p, "entitlement": e} for p, e in unexpected],
            "missing": [{"person_id": p, "entitlement": e} for p, e in missing],
            "unknown_accounts": len(unknown),
        },
        "orders": _drift_orders(rt, target_id, unexpected, missing, actor) if create_orders else [],
    }


def _person_of(rt: Runtime, row: ActualAccount, recorded: dict[str, str]) -> str | None:
    """Whose account a row is: by person id, by the account id recorded on confirmation, by email."""
    if row.person_id or (row.account and row.account in recorded):
        return row.person_id or recorded[row.account]
    return next((p.id for p in persons_with_email(rt, row.email)), None) if row.email else None


def _actual(rt: Runtime, target_id: str, accounts: list[ActualAccount]) -> tuple[dict[tuple[str, str], bool], list[str]]:
    """(person, entitlement) → active, as the target holds it; and the accounts of nobody known."""
    actual: dict[tuple[str, str], bool] = {}
    unknown = []
    recorded = OrderRepository(rt.store).accounts(target_id)
    for row in accounts:
        person_id = _person_of(rt, row, recorded)
        if person_id is None:
            unknown.append(row.email or row.account or "")
            continue
        actual[(person_id, ACCOUNT)] = row.active
        actual.update({(person_id, entitlement): True for entitlement in row.entitlements})
    return actual, unknown


def _verify(rt: Runtime, target_id: str, actual: dict[tuple[str, str], bool], believed: set[tuple[str, str]],
            actor: str) -> list[str]:
    """Executed orders of the target that the actual data confirms become Verified."""
    repo = OrderRepository(rt.store)
    verified = []
    for person_id in sorted({p for p, _ in actual} | {p for p, _ in believed}):
        for order in repo.of_person(person_id):
            if order.target_id != target_id or order.state != OrderState.executed:
                continue
            if order.action.traits.confirmed_by.confirms(actual.get((person_id, order.entitlement))):
                transition(rt, order.id, Move.verify, OrderState.verified, actor, "confirmed by reconciliation")
                verified.append(order.id)
    return verified


def _drift_orders(rt: Runtime, target_id: str, unexpected, missing, actor: str) -> list[str]:
    """Drift becomes orders: the assignment is forgotten (missing) or claimed (unexpected),
    and the person's next evaluation issues what brings the target back in line."""
    repo = OrderRepository(rt.store)
    people = {p for p, _ in missing} | {p for p, _ in unexpected}
    for person_id in people:
        held = [a for a in repo.assignments(person_id) if a.target_id == target_id]
        changed = _forgotten(held, person_id, missing) + _claimed(rt, held, person_id, target_id, unexpected)
        if changed:
            repo.commit(person_id, [], changed, [])
    created = []
    for person_id in sorted(p for p in people if not p.startswith("ext-")):
        created += [o.id for o in evaluate_provisioning(rt, person_id, f"drift found by {actor}", actor)]
    return created


def _forgotten(held: list[Assignment], person_id: str, missing) -> list[Assignment]:
    """Active assignments the target does not hold: Roster forgets them, to order them again."""
    return [a.model_copy(update={"status": "removed"}) for a in held
            if (person_id, a.entitlement) in missing and a.status == "active"]


def _claimed(rt: Runtime, held: list[Assignment], person_id: str, target_id: str, unexpected) -> list[Assignment]:
    """What the target holds and Roster never ordered: claimed, so evaluation removes it."""
    known = {a.entitlement for a in held}
    return [Assignment(person_id=p, target_id=target_id, entitlement=entitlement, status="active",
                       order_id="reconciliation", since=rt.clock.now())
            for p, entitlement in unexpected if p == person_id and entitlement not in known]


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
