"""Batched dispatch through the real `provisioning-order` batch trigger: a target's orders
travel in lanes (sessions), a batch target gets one POST per batch, a failed order of a
batch is retried on its own by scheduled redelivery, and a batch delivered again calls the
target only for what is still Pending (docs/provisioning.md, Dispatch)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from devhost.pump import to_message
from shared import telemetry
from shared.connectors.pool import POOL
from shared.models.provisioning import Action, OrderState, Policy, Target
from shared.services.provisioning import evaluate_provisioning, lane, order_message
from shared.store.deadletters import DeadLetterRepository
from shared.store.targets import TargetRepository
from tests.delivery.chain import (
    SECRET_ENV,
    deliver_due,
    finance_group,
    hire,
    orders_of,
    webhook_target,
)
from tests.factories import a_target, an_order
from tests.helpers.hooks import hook
from tests.helpers.telemetry import recording


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "delivery-secret")
    yield
    POOL.close_all()


def trigger():
    from functions.provisioning import provisioning_order_queue

    return provisioning_order_queue._function.get_user_function()


def test_a_targets_orders_travel_in_as_many_lanes_as_its_concurrency_a_persons_always_in_one():
    target = a_target("webhook", url="https://hooks.example/roster", concurrency=3)
    orders = [an_order(Action.create_account, person_id=f"p-{n}", order_id=f"o-{n}") for n in range(60)]

    sessions = {order_message(o, target).session_id for o in orders}
    again = [order_message(o.model_copy(update={"id": o.id + "b", "action": Action.grant}), target) for o in orders]

    assert sessions == {"app|0", "app|1", "app|2"}
    assert [m.session_id for m in again] == [order_message(o, target).session_id for o in orders]
    assert lane(orders[0], None).startswith("app|")  # a target gone: the default lanes


def test_a_batch_target_gets_one_post_per_batch_and_every_order_is_executed(rt):
    with hook() as receiver:
        finance_group(rt)
        webhook_target(rt, "hook", receiver.url, batch_size=50, concurrency=1)
        persons = [hire(rt, n) for n in range(6)]

        delivered = deliver_due(rt)

    orders = orders_of(rt, "hook", persons)
    assert delivered == 6
    assert {o.state for o in orders} == {OrderState.executed}
    assert len(receiver.bodies) == 1  # one lane, one batch, one POST
    assert sorted(receiver.order_ids()) == sorted(o.id for o in orders)
    assert all(o.history[-1].note == "HTTP 200 (batch): 201" for o in orders)


def test_a_failed_order_of_a_batch_is_retried_on_its_own_by_scheduled_redelivery(rt, clock):
    refused_once: set[str] = set()
    failing: list[str] = []

    def one_fails_once(document):
        results = []
        for entry in document["orders"]:
            order_id = entry["order"]["id"]
            fails = order_id == failing[0] and order_id not in refused_once
            refused_once.update([order_id] if fails else [])
            results.append({"id": order_id, "status": 503 if fails else 201})
        return 200, {"results": results}

    with hook(one_fails_once) as receiver:
        finance_group(rt)
        webhook_target(rt, "hook", receiver.url, batch_size=50, concurrency=1)
        persons = [hire(rt, n) for n in range(4)]
        failing.append(orders_of(rt, "hook", persons)[2].id)

        deliver_due(rt)
        waiting = [o for o in orders_of(rt, "hook", persons) if o.state == OrderState.pending]
        clock.advance(timedelta(seconds=6))
        deliver_due(rt)

    assert [o.id for o in waiting] == failing
    assert waiting[0].failures == 1 and waiting[0].next_attempt_at == clock.now() - timedelta(seconds=1)
    assert {o.state for o in orders_of(rt, "hook", persons)} == {OrderState.executed}
    assert len(receiver.bodies) == 2
    assert [e["order"]["id"] for e in receiver.bodies[1]["orders"]] == failing  # only the failed one again
    assert receiver.order_ids().count(failing[0]) == 2  # same order id: the receiver's idempotency key


def test_a_batch_delivered_again_calls_the_target_only_for_orders_still_pending(rt, clock):
    with hook() as receiver:
        finance_group(rt)
        webhook_target(rt, "hook", receiver.url, batch_size=50, concurrency=1)
        persons = [hire(rt, n) for n in range(3)]
        queue = rt.settings.queue("provisioning-order")

        first = rt.bus.receive_batch(queue, 250)
        trigger()([to_message(d) for d in first])  # carried out, then the process dies: never completed
        clock.advance(timedelta(seconds=61))  # the locks expire
        again = rt.bus.receive_batch(queue, 250)
        trigger()([to_message(d) for d in again])
        rt.bus.complete_batch(again)

    assert sorted(d.message_id for d in again) == sorted(d.message_id for d in first)
    assert again[0].delivery_count == 2
    assert len(receiver.bodies) == 1  # the second delivery found nothing Pending
    assert {o.state for o in orders_of(rt, "hook", persons)} == {OrderState.executed}


def test_a_malformed_message_in_a_batch_is_parked_alone_and_the_others_are_carried_out(rt):
    with hook() as receiver:
        finance_group(rt)
        webhook_target(rt, "hook", receiver.url, batch_size=50, concurrency=1)
        persons = [hire(rt, n) for n in range(2)]
        queue = rt.settings.queue("provisioning-order")
        rt.bus.publish(queue, b'{"order_id": 7}', "bad-1", session_id="hook|0")  # the lane of all of them

        delivered = deliver_due(rt)

    assert delivered == 3
    assert {o.state for o in orders_of(rt, "hook", persons)} == {OrderState.executed}
    [letter] = DeadLetterRepository(rt.store).list("provisioning-order")
    assert (letter["message_id"], letter["reason"]) == ("bad-1", "ValidationFailed")
    assert "order_id" in letter["description"]
    assert len(receiver.bodies) == 1 and len(receiver.order_ids()) == 2


def test_a_grant_batched_with_its_accounts_order_goes_after_it(rt):
    with hook() as receiver:
        finance_group(rt)
        target = webhook_target(rt, "hook", receiver.url, batch_size=50, concurrency=1)
        person = hire(rt, 1)
        TargetRepository(rt.store).add_policy(target.id, Policy(group_id="fin-employees", entitlement="editor"))
        evaluate_provisioning(rt, person, "policy added")

        deliver_due(rt)

    orders = orders_of(rt, "hook", [person])
    assert sorted(o.action for o in orders) == [Action.create_account, Action.grant]
    assert {o.state for o in orders} == {OrderState.executed}
    sent = [[e["order"]["action"] for e in body["orders"]] for body in receiver.bodies]
    assert sent == [["create_account"], ["grant"]]  # one batch, two rounds: the account first


def test_a_scim_targets_account_orders_go_in_one_bulk_request_each_order_verified(rt, scim_server):
    finance_group(rt)
    repo = TargetRepository(rt.store)
    repo.save(Target(id="scim", name="Scim", connector="scim", settings=scim_server.settings(concurrency=1)))
    repo.add_policy("scim", Policy(group_id="fin-employees"))
    persons = [hire(rt, n) for n in range(4)]

    deliver_due(rt)

    orders = orders_of(rt, "scim", persons)
    assert {o.state for o in orders} == {OrderState.verified}
    assert all("created (bulk), read back" in o.history[-1].note for o in orders)
    assert scim_server.requests.count(("POST", "/v2/Bulk")) == 1
    assert ("POST", "/v2/Users") not in scim_server.requests


def test_each_message_of_a_batch_keeps_its_own_trace_and_the_batch_call_is_one_connector_span(rt):
    with hook() as receiver, recording() as recorded:
        finance_group(rt)
        webhook_target(rt, "hook", receiver.url, batch_size=50, concurrency=1)
        for n in range(2):
            with telemetry.span(f"hire {n}"):
                hire(rt, n)

        deliver_due(rt)

    hires = {s.context.trace_id for s in recorded.spans() if s.name.startswith("hire ")}
    consumed = recorded.named("process provisioning-order")
    assert len(hires) == 2 and len(consumed) == 2
    assert {s.context.trace_id for s in consumed} == hires  # each message continues its own trace
    [call] = recorded.named("connector webhook")
    assert call.context.trace_id in hires and call.attributes["roster.outcome"] == "executed"
    assert len(receiver.bodies) == 1
