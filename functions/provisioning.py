"""Targets, policies, orders and the worklist; the `group-update` and `provisioning-order`
triggers."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

import azure.functions as func
from pydantic import Field, StringConstraints

from functions.http import Call, endpoint
from functions.queues import consume
from shared import outbound, secrets
from shared.connectors import check_connector
from shared.errors import Conflict, FieldError, InvalidInput, NotFound
from shared.models.base import Model
from shared.models.messages import OrderRef, PersonRef
from shared.models.provisioning import Policy, Target, TargetView
from shared.runtime import runtime
from shared.services import orders, reconciliation, target_reading
from shared.services.provisioning import announce_members, evaluate_provisioning, suspended_by
from shared.services.rulebook import rulebook
from shared.store.persons import PersonRepository
from shared.store.targets import TargetRepository

log = logging.getLogger("roster.provisioning")
bp = func.Blueprint()
OPERATE = "Provisioning.Operate"
READ = ("Provisioning.Operate", "Persons.Read")


class TargetIn(Target):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] | None = None  # type: ignore[assignment]


class Message(Model):
    message: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class Bulk(Model):
    action: Literal["confirm", "approve"]
    ids: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(min_length=1, max_length=500)


class PersonIn(Model):
    person_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]


@endpoint(bp, "targets", name="targets_list", methods=("GET",), role=OPERATE, summary="List targets")
def list_targets(call: Call):
    return {"items": TargetRepository(call.rt.store).all(), "next": None}


@endpoint(bp, "targets", name="targets_create", methods=("POST",), role="Admin", body=Target, response=Target,
          statuses=(201, 409), summary="Register a target system")
def create_target(call: Call):
    check_connector(call.body)
    repo = TargetRepository(call.rt.store)
    if repo.get(call.body.id) is not None:
        raise Conflict(f"target {call.body.id!r} exists already")
    repo.save(checked(call.body))
    return 201, call.body


@endpoint(bp, "targets/{id}", name="targets_get", methods=("GET",), role=OPERATE, response=TargetView,
          statuses=(200, 404), summary="One target with its policies")
def get_target(call: Call):
    target = _target(call)
    return TargetView(**target.model_dump(), policies=TargetRepository(call.rt.store).policies(target.id))


@endpoint(bp, "targets/{id}", name="targets_update", methods=("PUT",), role="Admin", body=TargetIn,
          response=Target, statuses=(200, 404), summary="Change a target")
def update_target(call: Call):
    _target(call)
    if call.body.id not in (None, call.route["id"]):
        raise InvalidInput("id in the body differs from the path", [FieldError("id", "must match the path")])
    target = Target.model_validate({**call.body.model_dump(), "id": call.route["id"]})
    check_connector(target)
    TargetRepository(call.rt.store).save(checked(target))
    return target


@endpoint(bp, "targets/{id}/policies", name="targets_policy_add", methods=("POST",), role="Admin", body=Policy,
          statuses=(201, 404), summary="Grant an entitlement in the target to a group's members")
def add_policy(call: Call):
    target = _target(call)
    problem = target.entitlement_problem(call.body.entitlement)
    if problem:
        raise InvalidInput(f"entitlement: {problem}", [FieldError("entitlement", problem)])
    call.body = call.body.model_copy(update={"entitlement": target.normal_entitlement(call.body.entitlement)})
    if call.body.group_id not in rulebook(call.rt.store, call.rt.clock).groups:
        raise InvalidInput(f"no group {call.body.group_id!r}", [FieldError("group_id", "unknown group")])
    TargetRepository(call.rt.store).add_policy(target.id, call.body)
    announced = announce_members(call.rt, call.body.group_id, f"policy {target.id}/{call.body.entitlement} added")
    return 201, {**call.body.model_dump(), "members_to_provision": announced}


@endpoint(bp, "targets/{id}/reconcile", name="targets_reconcile", methods=("POST",), role=OPERATE,
          query=("create_orders",), statuses=(200, 400, 404),
          summary="The target's actual accounts (JSON or CSV) → Verified orders and drift")
def reconcile(call: Call):
    target = _target(call)
    raw = call.req.get_body() or b""
    accounts = reconciliation.parse_accounts(raw, call.req.headers.get("content-type", "application/json"))
    create = (call.query("create_orders") or "false").lower() == "true"
    return reconciliation.reconcile(call.rt, target.id, accounts, call.actor, create)


@endpoint(bp, "targets/{id}/reconcile/pull", name="targets_reconcile_pull", methods=("POST",), role=OPERATE,
          query=("create_orders",), statuses=(200, 404, 409, 502),
          summary="Read the target itself (Graph delta, LDAP or SCIM listing) → Verified orders and drift")
def reconcile_pull(call: Call):
    create = (call.query("create_orders") or "false").lower() == "true"
    return target_reading.pull(call.rt, call.route["id"], call.actor, create)


@bp.function_name("targets_reconcile_timer")
@bp.timer_trigger(arg_name="timer", schedule="0 15 * * * *", run_on_startup=False)
def targets_reconcile_timer(timer: func.TimerRequest) -> None:
    """Hourly at :15: every readable target is read and reconciled (docs/targets.md, Reconciliation)."""
    for target_id, summary in target_reading.pull_all(runtime(), "roster:timer").items():
        log.info("reconciliation of %s: %s", target_id, summary)


@endpoint(bp, "provisioning/evaluate", name="provisioning_evaluate", methods=("POST",), role=OPERATE,
          body=PersonIn, statuses=(200, 404), summary="Provisioning for one person now")
def evaluate(call: Call):
    created = evaluate_provisioning(call.rt, call.body.person_id, f"evaluation asked by {call.actor}", call.actor)
    return {"person_id": call.body.person_id, "orders": created}


@endpoint(bp, "orders", name="orders_list", methods=("GET",), role=READ, query=("target", "state", "person"),
          summary="Orders; the manual worklist is state=Transmitted")
def list_orders(call: Call):
    found = orders.list_orders(call.rt, call.query("target"), call.query("state"), call.query("person"))
    return {"items": found, "next": None}


@endpoint(bp, "orders/{id}", name="orders_get", methods=("GET",), role=READ, statuses=(200, 404),
          summary="One order with its history")
def get_order(call: Call):
    return orders.get_order(call.rt, call.route["id"])


@endpoint(bp, "orders/{id}/confirm", name="orders_confirm", methods=("POST",), role=OPERATE,
          statuses=(200, 404, 409), summary="Staff carried it out by hand (Transmitted → Executed)")
def confirm(call: Call):
    return orders.confirm(call.rt, call.route["id"], call.actor)


@endpoint(bp, "orders/{id}/error", name="orders_error", methods=("POST",), role=OPERATE, body=Message,
          statuses=(200, 404, 409), summary="Staff could not carry it out (→ Errored)")
def error(call: Call):
    return orders.report_error(call.rt, call.route["id"], call.body.message, call.actor)


@endpoint(bp, "orders/{id}/approve", name="orders_approve", methods=("POST",), role=OPERATE,
          statuses=(200, 404, 409), summary="Approve an order waiting for approval")
def approve(call: Call):
    return orders.approve(call.rt, call.route["id"], call.actor)


@endpoint(bp, "orders/{id}/retry", name="orders_retry", methods=("POST",), role=OPERATE,
          statuses=(200, 404, 409), summary="Try an errored order again")
def retry(call: Call):
    return orders.retry(call.rt, call.route["id"], call.actor)


@endpoint(bp, "orders/bulk", name="orders_bulk", methods=("POST",), role=OPERATE, body=Bulk,
          summary="Confirm or approve many orders; reported per id")
def bulk(call: Call):
    return {"results": orders.bulk(call.rt, call.body.action, call.body.ids, call.actor)}


@endpoint(bp, "persons/{id}/access", name="persons_access", methods=("GET",), role=READ, statuses=(200, 404),
          summary="Per target and entitlement: the assignment, its latest order and state")
def access(call: Call):
    return {"items": orders.access(call.rt, call.route["id"]), "next": None}


@endpoint(bp, "persons/{id}/eligibility", name="persons_eligibility", methods=("GET",),
          role=("Persons.Read", "Requests.Manage"), statuses=(200, 404),
          summary="May the person make requests and recover accounts?")
def eligibility(call: Call):
    if PersonRepository(call.rt.store).get(call.route["id"]) is None:
        raise NotFound(f"no person with id {call.route['id']!r}")
    group = suspended_by(call.rt, call.route["id"])
    if group:
        return {"can_request": False, "can_recover": False, "reason": f"suspended: a member of {group}"}
    return {"can_request": True, "can_recover": True, "reason": "no suspension applies"}


@bp.function_name("group_update_queue")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name="%GroupUpdateQueue%", connection="ServiceBusConnection",
                              is_sessions_enabled=True)
def group_update_queue(msg: func.ServiceBusMessage) -> None:
    """A person's groups changed: bring their access in line."""
    consume(msg, "group-update", PersonRef, lambda ref: evaluate_provisioning(runtime(), ref.person_id, ref.cause))


@bp.function_name("provisioning_order_queue")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name="%ProvisioningOrderQueue%",
                              connection="ServiceBusConnection", is_sessions_enabled=True)
def provisioning_order_queue(msg: func.ServiceBusMessage) -> None:
    """An order for an automatic connector: carry it out."""
    consume(msg, "provisioning-order", OrderRef, lambda ref: orders.execute(runtime(), ref.order_id))


def checked(target: Target) -> Target:
    """A target whose settings may be saved: every URL (`url`, `*_url`) passes the outbound
    check (an http(s) one whole, another scheme, LDAP's, for its address), every secret is a
    `ROSTER_TARGET_SECRET_*` name (docs/security.md)."""
    secrets.check_settings(target.settings)
    for key, value in target.settings.items():
        if key == "url" or key.endswith("_url"):
            outbound.check_address_of(value, f"settings.{key}")
    return target


def _target(call: Call) -> Target:
    target = TargetRepository(call.rt.store).get(call.route["id"])
    if target is None:
        raise NotFound(f"no target {call.route['id']!r}")
    return target


