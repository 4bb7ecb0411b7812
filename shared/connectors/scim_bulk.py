"""SCIM `/Bulk` (RFC 7644 §3.7) for a batch of one target's account orders: the connector
the registry names `scim` — ScimConnector with a batch mode.

When the server's ServiceProviderConfig advertises `bulk.supported` (and PATCH), a batch is
carried out in a few requests instead of three or four per order: one filtered search finds
the batch's users (`externalId` = person id, else `userName`); the changes go in `/Bulk`
requests of at most `maxOperations` operations and `maxPayloadSize` bytes, each operation's
`bulkId` the order id; one filtered search reads them back. Each order's outcome comes from
its own operation: Verified when the read-back shows the intended state, the operation's
status otherwise (408, 429, 5xx: transient; a 409 on a create: the single path, which adopts
the user; others: Errored "SCIM bulk 400 invalidValue"). Not advertised, or unreadable: one
order at a time, as before. Bulk carries `create_account`, `suspend`, `disable_account`,
`restore` and `delete_account`; grants, revokes and updates (group lookups, read-modify
writes) always take the single path. `batch_size` (default 100) caps the orders per batch;
`batch_size: 1` turns bulk off.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from scim2_models import Context, PatchOp, PatchOperation, SearchRequest, ServiceProviderConfig

from shared.connectors.base import (
    MAX_BATCH_SIZE,
    HttpSettings,
    Outcome,
    Refused,
    Transient,
    errored,
    fault_outcome,
    is_transient_status,
    transport_fault,
)
from shared.connectors.scim import (
    HttpxScimClient,
    ScimConnector,
    ScimUser,
    auth_headers,
    eq_filter,
    new_user,
    scim_faults,
    short_id,
    user_name_of,
)
from shared.models.provisioning import OrderState, ScimStep, Target

DEFAULT_BATCH = 100  # orders per batch when the target sets no batch_size
LOOKUP_CHUNK = 50  # persons per filtered search (the filter travels in the URL)
BULK_STEPS = {ScimStep.create, ScimStep.deactivate, ScimStep.activate, ScimStep.delete}
Item = tuple[Any, Any, "str | None"]  # order, person, the account id Roster knows

_limits: weakref.WeakKeyDictionary[httpx.Client, Any] = weakref.WeakKeyDictionary()
_limits_lock = threading.Lock()


def advertised(scim: HttpxScimClient) -> Any:
    """The server's Bulk capability (supported, maxOperations, maxPayloadSize) when it
    advertises Bulk and PATCH, else None; read once per pooled client (a changed setting
    gets a new client, so it is read again). A server that cannot say: None, not kept."""
    with _limits_lock:
        if scim.client in _limits:
            return _limits[scim.client]
    try:
        with scim_faults():
            config = scim.query(ServiceProviderConfig)
    except (Transient, Refused):
        return None
    bulk = getattr(config, "bulk", None)
    patch = getattr(config, "patch", None)
    usable = bulk is not None and bulk.supported and (bulk.max_operations or 0) > 0 and patch and patch.supported
    with _limits_lock:
        _limits[scim.client] = bulk if usable else None
    return bulk if usable else None


class BulkScimConnector(ScimConnector):
    """The SCIM connector with a batch mode over `/Bulk` (the registry's `scim`)."""

    def batch_size(self, target: Target) -> int:
        """Orders per batch: the target's `batch_size` (default 100), at most the server's
        maxOperations; 1 when the server does not advertise Bulk."""
        try:
            scim = self._client(target, HttpSettings.read(target.settings), auth_headers(target.settings))
        except Refused:
            return 1
        bulk = advertised(scim)
        if bulk is None:
            return 1
        wanted = target.settings.get("batch_size", DEFAULT_BATCH)
        wanted = wanted if isinstance(wanted, int) and not isinstance(wanted, bool) and wanted >= 1 else DEFAULT_BATCH
        return max(1, min(wanted, MAX_BATCH_SIZE, bulk.max_operations))

    def execute_many(self, target: Target, items: list[Item]) -> list[Outcome]:
        """One outcome per item, in order: account orders through `/Bulk`, the others one by one."""
        try:
            scim = self._client(target, HttpSettings.read(target.settings), auth_headers(target.settings))
        except Refused as refused:
            return [errored(refused.note)] * len(items)
        bulk = advertised(scim)
        single: Callable[[Item], Outcome] = lambda item: self.execute(target, *item)  # noqa: E731
        if bulk is None:
            return [single(item) for item in items]
        return BulkRun(scim, bulk, single).outcomes(items)


@dataclass
class Planned:
    """One order's bulk operation and what it is to come to."""

    item: Item
    operation: dict[str, Any]
    verb: str  # created, adopted, deactivated, reactivated, deleted
    uid: str | None  # None until the server gives it (a create)


class BulkRun:
    """One batch: look up, plan, send, read back."""

    def __init__(self, scim: HttpxScimClient, bulk: Any, single: Callable[[Item], Outcome]):
        self.scim, self.bulk, self.single = scim, bulk, single

    def outcomes(self, items: list[Item]) -> list[Outcome]:
        results: dict[int, Outcome] = {}
        account_items = {n: item for n, item in enumerate(items) if item[0].action.traits.scim in BULK_STEPS}
        try:
            found = self._users(list(account_items.values()))
            planned = {}
            for n, item in account_items.items():
                plan = self._plan(item, found)
                if isinstance(plan, Outcome):
                    results[n] = plan
                else:
                    planned[n] = plan
            results.update(self._carried_out(planned))
        except (Transient, Refused) as fault:
            results.update({n: fault_outcome(fault) for n in account_items if n not in results})
        for n, item in enumerate(items):
            if n not in results:
                results[n] = self.single(item)
        return [results[n] for n in range(len(items))]

    # -- look up ---------------------------------------------------------------------------

    def _users(self, items: list[Item]) -> dict[str, Any]:
        """The batch's users by `ext:<person id>`, `name:<userName>` and `id:<id>`."""
        found: dict[str, Any] = {}
        for start in range(0, len(items), LOOKUP_CHUNK):
            terms = []
            for _, person, external_id in items[start:start + LOOKUP_CHUNK]:
                terms += [eq_filter("externalId", person.id), eq_filter("userName", user_name_of(person))]
                terms += [eq_filter("id", external_id)] if external_id else []
            for user in self._search(terms):
                found.update({f"id:{user.id}": user, f"name:{user.user_name}": user})
                if user.external_id:
                    found[f"ext:{user.external_id}"] = user
        return found

    def _search(self, terms: list[str]) -> list[Any]:
        with scim_faults():
            page = self.scim.query(ScimUser, query_parameters=SearchRequest(filter=" or ".join(terms),
                                                                            count=len(terms) + 1))
        return list(page.resources or [])

    # -- plan ------------------------------------------------------------------------------

    def _plan(self, item: Item, found: dict[str, Any]) -> Planned | Outcome:
        order, person, external_id = item
        step = order.action.traits.scim
        user = (found.get(f"id:{external_id}") if external_id else None) or found.get(f"ext:{person.id}")
        if step == ScimStep.create:
            return self._plan_create(item, user or found.get(f"name:{user_name_of(person)}"))
        uid = external_id or (user.id if user else None)
        if uid is None:
            if step == ScimStep.activate:
                return errored("no SCIM user for this person to restore")
            return Outcome(OrderState.verified, f"no SCIM user for this person: nothing to {_NOTHING[step]}")
        if step == ScimStep.delete:
            return Planned(item, {"method": "DELETE", "path": f"/Users/{uid}", "bulkId": order.id}, "deleted", uid)
        active = step == ScimStep.activate
        return Planned(item, _patch(order.id, uid, {"active": active}), "reactivated" if active else "deactivated", uid)

    def _plan_create(self, item: Item, user: Any) -> Planned | Outcome:
        order, person, _ = item
        if user is None:
            data = new_user(person).model_dump(scim_ctx=Context.RESOURCE_CREATION_REQUEST)
            return Planned(item, {"method": "POST", "path": "/Users", "bulkId": order.id, "data": data}, "created", None)
        if user.external_id not in (None, person.id):
            return errored("the SCIM user with this userName has another externalId")
        changes = {**({"active": True} if user.active is False else {}),
                   **({"externalId": person.id} if user.external_id is None else {})}
        if not changes:
            return Outcome(OrderState.verified, f"SCIM user {short_id(user.id)} adopted, read back", user.id)
        return Planned(item, _patch(order.id, user.id, changes), "adopted", user.id)

    # -- send and read back ------------------------------------------------------------------

    def _carried_out(self, planned: dict[int, Planned]) -> dict[int, Outcome]:
        results: dict[int, Outcome] = {}
        answers: dict[str, dict] = {}
        for request in self._requests(list(planned.values())):
            answers.update(self._send(request))
        done = {}
        for n, plan in planned.items():
            answer = answers.get(plan.item[0].id)
            outcome = self._answered(plan, answer)
            if outcome is None:
                done[n] = plan
            else:
                results[n] = outcome
        results.update(self._read_back(done))
        return results

    def _requests(self, plans: list[Planned]) -> list[list[dict]]:
        """The operations in requests within maxOperations and maxPayloadSize."""
        most, size_limit = self.bulk.max_operations, self.bulk.max_payload_size or 0
        requests: list[list[dict]] = [[]]
        for plan in plans:
            grown = [*requests[-1], plan.operation]
            if requests[-1] and (len(grown) > most or (size_limit and len(_body(grown)) > size_limit)):
                requests.append([plan.operation])
            else:
                requests[-1] = grown
        return [r for r in requests if r]

    def _send(self, operations: list[dict]) -> dict[str, dict]:
        """POST /Bulk; the operations' answers by bulkId (in order when a server omits it)."""
        try:
            response = self.scim.client.post("/Bulk", content=_body(operations),
                                             headers={"Content-Type": "application/scim+json"})
        except httpx.TransportError as error:
            raise Transient(f"SCIM bulk {transport_fault(error).note}") from error
        if response.status_code != 200:
            note = f"SCIM bulk {response.status_code}"
            raise Transient(note) if is_transient_status(response.status_code) else Refused(note)
        try:
            answered = response.json().get("Operations") or []
        except (ValueError, AttributeError):
            raise Refused("SCIM bulk response not understood") from None
        return {str(a.get("bulkId") or operations[i]["bulkId"]): a for i, a in enumerate(answered)
                if isinstance(a, dict) and i < len(operations)}

    def _answered(self, plan: Planned, answer: dict | None) -> Outcome | None:
        """None when the operation took effect (to be read back), else the order's outcome."""
        if answer is None:
            return Outcome(OrderState.pending, "SCIM bulk: no answer for the order's operation")
        status = _status(answer)
        if 200 <= status < 300 or (status == 404 and plan.verb == "deleted"):
            return _took_effect(plan, answer, status)
        if status == 409 and plan.operation["method"] == "POST":
            return self.single(plan.item)  # made meanwhile: the single path adopts it
        response = answer.get("response")
        scim_type = response.get("scimType") if isinstance(response, dict) else None
        note = f"SCIM bulk {status}" + (f" {scim_type}" if scim_type else "")
        return Outcome(OrderState.pending, note) if is_transient_status(status) else errored(note)

    def _read_back(self, done: dict[int, Planned]) -> dict[int, Outcome]:
        """One search for the changed users: each order Verified when its user shows the
        intended state (a deleted one absent), else Errored "read-back disagrees"."""
        shown: dict[str, Any] = {}
        plans = list(done.values())
        for start in range(0, len(plans), LOOKUP_CHUNK):
            shown.update({u.id: u for u in self._search([eq_filter("id", p.uid) for p in plans[start:start + LOOKUP_CHUNK]])})
        results = {}
        for n, plan in done.items():
            user, person = shown.get(plan.uid), plan.item[1]
            if plan.verb in ("deleted", "already gone"):
                agrees = user is None
            elif plan.verb == "deactivated":
                agrees = user is not None and user.active is False
            else:
                agrees = user is not None and user.active is not False and user.external_id == person.id
            results[n] = Outcome(OrderState.verified, f"SCIM user {short_id(plan.uid)} {plan.verb} (bulk), read back",
                                 plan.uid) if agrees else \
                Outcome(OrderState.errored, f"SCIM user {short_id(plan.uid)}: read-back disagrees", plan.uid)
        return results


def _status(answer: dict) -> int:
    """An operation's status ("201", or a number); 0 when it has none."""
    text = str(answer.get("status", ""))[:3]
    return int(text) if text.isdigit() else 0


def _took_effect(plan: Planned, answer: dict, status: int) -> Outcome | None:
    """The operation went through (a 404 on a delete: gone already): the user's id from
    the answer's location for a create; None, or Errored when a create has no location."""
    if plan.uid is None:
        plan.uid = str(answer.get("location") or "").rstrip("/").rsplit("/", 1)[-1] or None
    if status == 404:
        plan.verb = "already gone"
    return None if plan.uid else errored("SCIM bulk: the created user has no location")


_NOTHING = {ScimStep.deactivate: "deactivate", ScimStep.delete: "delete"}


def _patch(bulk_id: str, uid: str, values: dict[str, Any]) -> dict[str, Any]:
    operations = [PatchOperation[ScimUser](op="replace", path=path, value=value) for path, value in values.items()]
    data = PatchOp[ScimUser](operations=operations).model_dump(scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    return {"method": "PATCH", "path": f"/Users/{uid}", "bulkId": bulk_id, "data": data}


def _body(operations: list[dict]) -> bytes:
    document = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
