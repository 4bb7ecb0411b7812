"""Connectors as a registry: the base module knows no implementation, a target names its
connector, and adding a connector is one registration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared import connectors
from shared.connectors import Outcome, check_connector, names, open_connector, register, unregister
from shared.errors import InvalidInput
from shared.models.provisioning import OrderState, Policy, Target
from shared.services import delivery
from shared.store.targets import TargetRepository
from tests.bus.calls import call, payload
from tests.delivery.chain import deliver_due, finance_group, hire, orders_of

ROOT = Path(__file__).resolve().parents[2]


class Echo:
    """A connector registered by a test: every order is Executed."""

    calls: list[str] = []

    def __init__(self, **options):
        self.options = options

    def execute(self, target, order, person, external_id) -> Outcome:
        Echo.calls.append(order.id)
        return Outcome(OrderState.executed, "echoed", "echo-1")


@pytest.fixture
def echo():
    Echo.calls = []
    register("echo", Echo)
    yield Echo
    unregister("echo")


def test_the_base_module_loads_no_connector():
    code = ("import sys, shared.connectors.base, shared.connectors.registry; "
            "print([m for m in sys.modules if m in ('shared.connectors.webhook', 'shared.connectors.scim')])")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_names_are_manual_and_the_registered_connectors():
    assert names() == ["manual", "entra", "ldap", "scim", "webhook"]
    assert connectors.is_automatic("webhook") and not connectors.is_automatic("manual")


def echo_target(rt) -> str:
    """The Finance group granted an account in a target of the `echo` connector; one hire."""
    finance_group(rt)
    TargetRepository(rt.store).save(Target(id="echoed", name="Echoed", connector="echo"))
    TargetRepository(rt.store).add_policy("echoed", Policy(group_id="fin-employees"))
    return hire(rt, 1)


def test_a_registered_connector_carries_out_orders_through_the_queue(rt, echo):
    person = echo_target(rt)

    deliver_due(rt)

    [order] = orders_of(rt, "echoed", [person])
    assert (order.state, order.external_id, echo.calls) == (OrderState.executed, "echo-1", [order.id])
    assert isinstance(open_connector(Target(id="e", name="E", connector="echo")), Echo)


def test_an_order_of_a_connector_no_longer_registered_errors_naming_it(rt, echo):
    person = echo_target(rt)
    unregister("echo")

    deliver_due(rt)

    [order] = orders_of(rt, "echoed", [person])
    assert (order.state, order.error) == (OrderState.errored, "no connector named 'echo'")
    assert delivery.execute(rt, order.id) is None  # not Pending any more: nothing happens


def test_a_target_naming_an_unknown_connector_is_refused_naming_the_field(rt):
    with pytest.raises(InvalidInput):
        check_connector(Target(id="x", name="X", connector="okta"))

    response = call("targets_create", "POST", "targets", body={"id": "x", "name": "X", "connector": "okta"})

    assert response.status_code == 422
    assert [e["field"] for e in payload(response)["errors"]] == ["connector"]


@pytest.mark.parametrize(("given", "fields"), [
    ({"concurrency": 0}, ["settings.concurrency"]),
    ({"concurrency": 17, "batch_size": 501}, ["settings.concurrency", "settings.batch_size"]),
    ({"batch_size": "50"}, ["settings.batch_size"]),
    ({"batch_size": True}, ["settings.batch_size"]),
])
def test_a_webhook_target_with_a_bad_delivery_setting_is_refused_naming_the_field(rt, given, fields):
    body = {"id": "hook", "name": "Hook", "connector": "webhook",
            "settings": {"url": "https://hooks.example/roster", "secret_env": "ROSTER_TARGET_SECRET_X", **given}}

    response = call("targets_create", "POST", "targets", body=body)

    assert response.status_code == 422
    assert [e["field"] for e in payload(response)["errors"]] == fields


def test_a_webhook_target_with_delivery_settings_in_range_is_saved(rt):
    body = {"id": "hook", "name": "Hook", "connector": "webhook",
            "settings": {"url": "https://hooks.example/roster", "secret_env": "ROSTER_TARGET_SECRET_X",
                         "concurrency": 16, "batch_size": 500}}

    response = call("targets_create", "POST", "targets", body=body)

    assert response.status_code == 201
    assert payload(response)["settings"]["batch_size"] == 500
