"""The webhook batch mode (docs/targets.md, "Webhook batch mode") against a real receiver:
one signed POST carries many orders, the receiver answers per order, and each order's
outcome is read from its own result."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from shared.clock import TravelClock
from shared.connectors import Outcome, open_connector
from shared.connectors.pool import POOL
from shared.connectors.webhook import batch_id
from shared.models.provisioning import Action, OrderState
from tests.factories import NOW, a_person, a_target, an_order
from tests.helpers.hooks import hook

SECRET = "batch-secret"
SECRET_ENV = "ROSTER_TARGET_SECRET_TEST_BATCH"


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    yield
    POOL.close_all()


def items(count: int) -> list:
    return [(an_order(Action.create_account, order_id=f"o-{n}"), a_person(), None) for n in range(1, count + 1)]


def send(receiver, batch) -> list[Outcome]:
    target = a_target("webhook", url=receiver.url, secret_env=SECRET_ENV, batch_size=10)
    return open_connector(target, clock=TravelClock(NOW)).execute_many(target, batch)


def test_one_signed_post_carries_every_order_of_the_batch_in_order():
    batch = items(3)
    with hook() as receiver:
        outcomes = send(receiver, batch)

    assert [o.state for o in outcomes] == [OrderState.executed] * 3
    assert [o.note for o in outcomes] == ["HTTP 200 (batch): 201"] * 3
    [raw], [headers], [body] = receiver.raw, receiver.headers, receiver.bodies
    assert headers["X-Roster-Signature"] == "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert headers["X-Roster-Batch"] == batch_id([order for order, _, _ in batch])
    assert "X-Roster-Order" not in headers
    assert body["batch_id"] == headers["X-Roster-Batch"]
    assert body["sent_at"] == "2026-11-02T09:00:00+00:00"
    assert [e["order"]["id"] for e in body["orders"]] == ["o-1", "o-2", "o-3"]
    assert body["orders"][0] == {
        "order": {"id": "o-1", "person_id": "p-ada", "target_id": "app", "entitlement": "account",
                  "action": "create_account", "reason": "policy fin-employees → account"},
        "person": {"id": "p-ada", "display_name": "Ada Lovelace", "email": "ada.lovelace@example.edu"},
    }  # fmt: skip


def test_each_order_takes_the_outcome_of_its_own_result():
    def mixed(document):
        return 207, {"results": [{"id": "o-1", "status": 201}, {"id": "o-2", "status": 503, "retry_after": 30},
                                 {"id": "o-3", "status": 422}, {"id": "o-5", "status": "bad"}]}  # o-4 missing

    with hook(mixed) as receiver:
        outcomes = send(receiver, items(5))

    assert outcomes == [
        Outcome(OrderState.executed, "HTTP 207 (batch): 201"),
        Outcome(OrderState.pending, "HTTP 207 (batch): 503", retry_after=30.0),
        Outcome(OrderState.errored, "HTTP 207 (batch): 422"),
        Outcome(OrderState.pending, "HTTP 207 (batch): no result for the order"),
        Outcome(OrderState.errored, "HTTP 207 (batch): the order's result has no status"),
    ]


def test_an_answer_without_results_executes_every_order():
    with hook(lambda document: (204, None)) as receiver:
        outcomes = send(receiver, items(2))

    assert outcomes == [Outcome(OrderState.executed, "HTTP 204 (batch)")] * 2


@pytest.mark.parametrize(("status", "state"), [(503, OrderState.pending), (429, OrderState.pending),
                                               (400, OrderState.errored)])
def test_a_fault_of_the_whole_call_is_every_orders_outcome(status, state):
    with hook(lambda document: (status, None)) as receiver:
        outcomes = send(receiver, items(3))

    assert [(o.state, o.note) for o in outcomes] == [(state, f"HTTP {status}")] * 3
    assert len(receiver.bodies) == 1


def test_the_batch_id_is_the_same_for_the_same_orders_at_the_same_attempts():
    orders = [order for order, _, _ in items(3)]
    again = [orders[2], orders[0], orders[1]]
    retried = [orders[0].model_copy(update={"attempts": 1}), *orders[1:]]

    assert batch_id(orders) == batch_id(again)
    assert batch_id(orders) != batch_id(retried)
    assert batch_id(orders) != batch_id(orders[:2])


@pytest.mark.parametrize(("setting", "size"), [(None, 1), (1, 1), (50, 50), (500, 500), (501, 1), (0, 1),
                                               ("10", 1), (True, 1)])
def test_the_batch_size_setting_is_read_with_one_order_per_post_as_the_fallback(setting, size):
    settings = {"url": "https://hooks.example/roster", "secret_env": SECRET_ENV}
    if setting is not None:
        settings["batch_size"] = setting
    target = a_target("webhook", **settings)

    assert open_connector(target).batch_size(target) == size
