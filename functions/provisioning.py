"""Targets, policies, orders and the worklist; the `group-update` and `provisioning-order`
triggers."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

import azure.functions as func
from pydantic import AfterValidator, Field, StringConstraints

from functions.http import PAGED, Call, endpoint, listed, parse_body
from functions.queues import consume, consume_many
from shared import telemetry
from shared.errors import RosterError
from shared.models.base import Model, one_line
from shared.models.messages import OrderRef, PersonRef
from shared.models.provisioning import Policy, Target, TargetView
from shared.models.role import Role
from shared.runtime import runtime
from shared.services import delivery, orders, reconciliation, target_reading, targets
from shared.services.eligibility import eligibility as eligibility_of
from shared.services.provisioning import evaluate_provisioning

log = logging.getLogger("roster.provisioning")
bp = func.Blueprint()


class TargetIn(Target):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] | None = None  # type: ignore[assignment]


class Message(Model):
    message: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class Bulk(Model):
    action: Literal["confirm", "approve"]
    ids: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(min_length=1, max_length=500)


class ConfirmIn(Model):
    """What staff may record when they confirm: the account id they created, a note."""

    account_id: Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(one_line)] | None = None
    note: Annotated[str, StringConstraints(max_length=2000), AfterValidator(one_line)] = ""


class PersonIn(Model):
    person_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]


@endpoint(bp, "targets", name="targets_list", methods=("GET",), role=Role.provisioning_operate, summary="List targets")
def list_targets(call: Call):
    return {"items": targets.list_targets(call.rt), "next": None}


@endpoint(bp, "targets", name="targets_create", methods=("POST",), role=Role.admin, body=Target, response=Target,
          statuses=(201, 409), summary="Register a target system")
def create_target(call: Call):
    return 201, targets.create_target(call.rt, call.body, call.actor)


@endpoint(bp, "targets/{id}", name="targets_get", methods=("GET",), role=Role.provisioning_operate, response=TargetView,
          statuses=(200, 404), summary="One target with its policies")
def get_target(call: Call):
    return targets.target_with_policies(call.rt, call.route["id"])


@endpoint(bp, "targets/{id}", name="targets_update", methods=("PUT",), role=Role.admin, body=TargetIn,
          response=Target, statuses=(200, 404), summary="Change a target")
def update_target(call: Call):
    return targets.update_target(call.rt, call.route["id"], call.body.model_dump(exclude_unset=False), call.actor)


@endpoint(bp, "targets/{id}/policies", name="targets_policy_add", methods=("POST",), role=Role.admin, body=Policy,
          statuses=(201, 404), summary="Grant an entitlement in the target to a group's members")
def add_policy(call: Call):
    policy, announced = targets.add_policy(call.rt, call.route["id"], call.body, call.actor)
    return 201, {**policy.model_dump(), "members_to_provision": announced}


@endpoint(bp, "targets/{id}/policies/{group_id}", name="targets_policy_remove", methods=("DELETE",), role=Role.admin,
          query=("entitlement",), statuses=(200, 404),
          summary="Withdraw a policy (entitlement defaults to account); the group's members are re-provisioned")
def remove_policy(call: Call):
    policy = Policy(group_id=call.route["group_id"], entitlement=call.query("entitlement", max_length=200) or "account")
    policy, announced = targets.remove_policy(call.rt, call.route["id"], policy, call.actor)
    return {**policy.model_dump(), "members_to_provision": announced}


@endpoint(bp, "targets/{id}/reconcile", name="targets_reconcile", methods=("POST",), role=Role.provisioning_operate,
          query=("create_orders",), statuses=(200, 400, 404),
          summary="The target's actual accounts (JSON or CSV) → Verified orders and drift")
def reconcile(call: Call):
    target = targets.get_target(call.rt, call.route["id"])
    raw = call.req.get_body() or b""
    accounts = reconciliation.parse_accounts(raw, call.req.headers.get("content-type", "application/json"))
    create = (call.query("create_orders") or "false").lower() == "true"
    return reconciliation.reconcile(call.rt, target.id, accounts, call.actor, create)


@endpoint(bp, "targets/{id}/reconcile/pull", name="targets_reconcile_pull", methods=("POST",), role=Role.provisioning_operate,
          query=("create_orders",), statuses=(200, 404, 409, 502),
          summary="Read the target itself (Graph delta, LDAP or SCIM listing) → Verified orders and drift")
def reconcile_pull(call: Call):
    create = (call.query("create_orders") or "false").lower() == "true"
    return target_reading.pull(call.rt, call.route["id"], call.actor, create)


@bp.function_name("targets_reconcile_timer")
@bp.timer_trigger(arg_name="timer", schedule="0 15 * * * *", run_on_startup=False)
def targets_reconcile_timer(timer: func.TimerRequest) -> None:
    """Hourly at :15: every readable target is read and reconciled (docs/targets.md, Reconciliation)."""
    with telemetry.span("timer targets_reconcile"):
        pulled = target_reading.pull_all(runtime(), "roster:timer")
    for target_id, summary in pulled.items():
        log.info("reconciliation of %s: %s", target_id, summary)


@endpoint(bp, "provisioning/evaluate", name="provisioning_evaluate", methods=("POST",), role=Role.provisioning_operate,
          body=PersonIn, statuses=(200, 404), summary="Provisioning for one person now")
def evaluate(call: Call):
    created = evaluate_provisioning(call.rt, call.body.person_id, f"evaluation asked by {call.actor}", call.actor)
    return {"person_id": call.body.person_id, "orders": created}


@endpoint(bp, "orders", name="orders_list", methods=("GET",), role=Role.provisioning_operate, query=("target", "state", "person", *PAGED),
          statuses=(200, 400, 422), summary="Orders, paged; the manual worklist is state=Transmitted")
def list_orders(call: Call):
    target, state, person = call.query("target"), call.query("state"), call.query("person")
    page = call.page("orders", target=target, state=state, person=person)
    return listed(orders.order_page(call.rt, page, target, state, person))


@endpoint(bp, "orders/{id}", name="orders_get", methods=("GET",), role=Role.provisioning_operate, statuses=(200, 404),
          summary="One order with its history")
def get_order(call: Call):
    return orders.get_order(call.rt, call.route["id"])


@endpoint(bp, "orders/{id}/confirm", name="orders_confirm", methods=("POST",), role=Role.provisioning_operate,
          statuses=(200, 404, 409, 422),
          summary="Staff carried it out by hand (Transmitted → Executed); optional body {account_id, note}")
def confirm(call: Call):
    body = parse_body(call.req, ConfirmIn) if (call.req.get_body() or b"").strip() else ConfirmIn()
    return orders.confirm(call.rt, call.route["id"], call.actor, body.note, body.account_id)


@endpoint(bp, "orders/{id}/error", name="orders_error", methods=("POST",), role=Role.provisioning_operate, body=Message,
          statuses=(200, 404, 409), summary="Staff could not carry it out (→ Errored)")
def error(call: Call):
    return orders.report_error(call.rt, call.route["id"], call.body.message, call.actor)


@endpoint(bp, "orders/{id}/approve", name="orders_approve", methods=("POST",), role=Role.provisioning_operate,
          statuses=(200, 404, 409), summary="Approve an order waiting for approval")
def approve(call: Call):
    return orders.approve(call.rt, call.route["id"], call.actor)


@endpoint(bp, "orders/{id}/retry", name="orders_retry", methods=("POST",), role=Role.provisioning_operate,
          statuses=(200, 404, 409), summary="Try an errored order again")
def retry(call: Call):
    return orders.retry(call.rt, call.route["id"], call.actor)


@endpoint(bp, "orders/bulk", name="orders_bulk", methods=("POST",), role=Role.provisioning_operate, body=Bulk,
          summary="Confirm or approve many orders; reported per id")
def bulk(call: Call):
    return {"results": orders.bulk(call.rt, call.body.action, call.body.ids, call.actor)}


@endpoint(bp, "persons/{id}/access", name="persons_access", methods=("GET",), role=(Role.provisioning_operate, Role.persons_read), statuses=(200, 404),
          summary="Per target and entitlement: the assignment, its latest order and state")
def access(call: Call):
    return {"items": orders.access(call.rt, call.route["id"]), "next": None}


@endpoint(bp, "persons/{id}/eligibility", name="persons_eligibility", methods=("GET",),
          role=(Role.persons_read, Role.requests_manage), statuses=(200, 404),
          summary="May the person make requests and recover accounts?")
def eligibility(call: Call):
    return eligibility_of(call.rt, call.route["id"]).as_dict()


@bp.function_name("group_update_queue")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name="%GroupUpdateQueue%", connection="ServiceBusConnection",
                              is_sessions_enabled=True)
def group_update_queue(msg: func.ServiceBusMessage) -> None:
    """A person's groups changed: bring their access in line."""
    consume(msg, "group-update", PersonRef,
            lambda ref: evaluate_provisioning(runtime(), ref.person_id, ref.cause, windowed=True))


@bp.function_name("provisioning_order_queue")
@bp.service_bus_queue_trigger(arg_name="msgs", queue_name="%ProvisioningOrderQueue%",
                              connection="ServiceBusConnection", is_sessions_enabled=True, cardinality="many")
def provisioning_order_queue(msgs: list[func.ServiceBusMessage]) -> None:
    """A batch of orders for automatic connectors (one session: one target's lane, up to
    host.json maxMessageBatchSize): carry them out (docs/provisioning.md, Dispatch)."""
    consume_many(msgs, "provisioning-order", OrderRef, _execute_batch)


def _execute_batch(refs: list[OrderRef]) -> dict[int, RosterError]:
    """Each order attempted once; the positions of those the service refused (4xx)."""
    results = delivery.execute_many(runtime(), [ref.order_id for ref in refs])
    return {n: result for n, ref in enumerate(refs)
            if isinstance(result := results.get(ref.order_id), RosterError)}
