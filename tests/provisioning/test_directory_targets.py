"""entra and ldap targets in Roster's own API and services: every bad input of issue #18 is
a 422 problem naming the field; a target's "not now" (429) becomes a scheduled redelivery."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from shared import outbound
from shared.models.group import GroupIn
from shared.models.person import PersonUpdate
from shared.models.provisioning import OrderState, Policy, Target
from shared.services import delivery, groups, orders, target_reading
from shared.services.chain import run_sync
from shared.services.provisioning import evaluate_provisioning
from shared.store.orders import OrderRepository
from shared.store.targets import TargetRepository
from tests.connectors.graph_standin import TOKEN, graph_standin
from tests.factories import hr_update

FIN_RULE = 'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -eq "FIN")'
GUID = "0b7c6a2e-5d0f-4a56-9a52-3c2f7e1f9d10"
LDAP = {"url": "ldaps://ldap.example.edu", "base_dn": "ou=people,dc=example,dc=edu",
        "bind_dn": "cn=roster,dc=example,dc=edu", "password_env": "ROSTER_TARGET_SECRET_LDAP"}


def call(functions, name: str, body: Any, route: dict | None = None) -> func.HttpResponse:
    request = func.HttpRequest("POST", "http://localhost/api/x", headers={
        "content-type": "application/json", "authorization": "Bearer admin-key"},
        params={}, route_params=route or {}, body=json.dumps(body).encode())
    return functions[name](request)


def problem_fields(response: func.HttpResponse) -> dict[str, str]:
    assert response.status_code == 422, response.get_body()
    assert response.mimetype == "application/problem+json"
    return {e["field"]: e["message"] for e in json.loads(response.get_body())["errors"]}


@pytest.mark.parametrize(("given", "field", "message"), [
    ({}, "settings.domain", "Field required"),
    ({"domain": "not a domain"}, "settings.domain", "must be a DNS domain such as example.edu"),
    ({"domain": "example.edu", "graph_url": "http://graph.example.edu"}, "settings.graph_url", "must be https"),
    ({"domain": "example.edu", "auth": "token", "token_env": "GRAPH_TOKEN"}, "settings.token_env",
     "must name an environment variable ROSTER_TARGET_SECRET_…"),
    ({"domain": "example.edu", "auth": "client_secret"}, "settings", "tenant_id is required when auth is client_secret"),
    ({"domain": "example.edu", "external_types": ["visitor"]}, "settings.external_types[0]", "Input should be"),
])
def test_an_entra_target_with_bad_settings_is_refused_naming_the_setting(functions, rt, given, field, message):
    answer = call(functions, "targets_create", {"id": "tenant", "name": "Entra", "connector": "entra",
                                                "settings": given})

    assert problem_fields(answer)[field].startswith(message)


@pytest.mark.parametrize(("given", "field", "message"), [
    ({**LDAP, "url": "ldap://ldap.example.edu"}, "settings.url", "must be ldaps (plain ldap only to the loopback"),
    ({**LDAP, "base_dn": "people"}, "settings.base_dn", "must be an LDAP distinguished name"),
    ({**LDAP, "password_env": "LDAP_PASSWORD"}, "settings.password_env", "must name an environment variable"),
    ({**LDAP, "flavour": "ad"}, "settings", "domain is required for Active Directory"),
    ({**LDAP, "account_template": "{given}.{surname}"}, "settings.account_template", "unknown placeholder {surname}"),
    ({**LDAP, "ca_certificates": "not a certificate"}, "settings.ca_certificates", "must be PEM certificates"),
])
def test_an_ldap_target_with_bad_settings_is_refused_naming_the_setting(functions, rt, given, field, message):
    answer = call(functions, "targets_create", {"id": "dir", "name": "LDAP", "connector": "ldap", "settings": given})

    assert problem_fields(answer)[field].startswith(message)


def test_plain_ldap_to_the_loopback_is_refused_when_the_runtime_does_not_allow_the_loopback(functions, rt, monkeypatch):
    monkeypatch.setattr(outbound, "installed_policy", lambda: outbound.OutboundPolicy(allow_loopback=False))

    answer = call(functions, "targets_create", {"id": "dir", "name": "LDAP", "connector": "ldap",
                                                "settings": {**LDAP, "url": "ldap://127.0.0.1:389"}})

    assert problem_fields(answer)["settings.url"].startswith("must be ldaps (plain ldap only to the loopback")


def test_plain_ldap_is_fine_with_start_tls_and_on_the_loopback_when_allowed(functions, rt, monkeypatch):
    tls = call(functions, "targets_create", {"id": "tls", "name": "LDAP", "connector": "ldap",
                                             "settings": {**LDAP, "url": "ldap://ldap.example.edu", "start_tls": True}})
    monkeypatch.setenv("ROSTER_ALLOW_LOOPBACK", "true")
    local = call(functions, "targets_create", {"id": "local", "name": "LDAP", "connector": "ldap",
                                               "settings": {**LDAP, "url": "ldap://127.0.0.1:3389"}})

    assert (tls.status_code, local.status_code) == (201, 201)


@pytest.mark.parametrize(("connector", "given", "entitlement", "message"), [
    ("entra", {"domain": "example.edu"}, "finance-editors", "must be account, group:<object id> or license:<sku id>"),
    ("entra", {"domain": "example.edu"}, "group:finance-editors",
     "group: must be followed by a GUID (the group's object id)"),
    ("entra", {"domain": "example.edu"}, "license:E5", "license: must be followed by a GUID (the licence's SKU id)"),
    ("ldap", LDAP, "license:" + GUID, "must be account or group:<DN>"),
    ("ldap", LDAP, "group:finance",
     "group: must be an LDAP distinguished name such as ou=people,dc=example,dc=edu"),
])
def test_a_policy_whose_entitlement_the_connector_cannot_hold_is_refused(functions, rt, connector, given,
                                                                        entitlement, message):
    groups.create_group(rt, GroupIn(id="fin-employees", name="Finance", kind="dynamic", rule=FIN_RULE), "admin")
    TargetRepository(rt.store).save(Target(id="dir", name="Dir", connector=connector, settings=given))

    answer = call(functions, "targets_policy_add", {"group_id": "fin-employees", "entitlement": entitlement},
                  route={"id": "dir"})

    assert problem_fields(answer)["entitlement"] == message
    assert TargetRepository(rt.store).policies("dir") == []


def test_an_entra_group_id_is_kept_in_lower_case(functions, rt):
    groups.create_group(rt, GroupIn(id="fin-employees", name="Finance", kind="dynamic", rule=FIN_RULE), "admin")
    TargetRepository(rt.store).save(Target(id="dir", name="Dir", connector="entra", settings={"domain": "example.edu"}))

    answer = call(functions, "targets_policy_add", {"group_id": "fin-employees", "entitlement": f"group:{GUID.upper()}"},
                  route={"id": "dir"})

    assert answer.status_code == 201
    assert [p.entitlement for p in TargetRepository(rt.store).policies("dir")] == [f"group:{GUID}"]


def test_reading_a_manual_target_is_a_conflict(functions, rt):
    TargetRepository(rt.store).save(Target(id="wiki", name="Wiki"))

    answer = call(functions, "targets_reconcile_pull", {}, route={"id": "wiki"})

    assert answer.status_code == 409
    assert "cannot read it" in json.loads(answer.get_body())["detail"]


def test_an_unreachable_target_is_a_502_naming_the_fault(functions, rt, monkeypatch):
    monkeypatch.setenv("ROSTER_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("ROSTER_TARGET_SECRET_LDAP", "pw")
    TargetRepository(rt.store).save(Target(id="dir", name="Dir", connector="ldap", settings={
        **LDAP, "url": "ldap://127.0.0.1:9", "timeout_seconds": 2}))

    answer = call(functions, "targets_reconcile_pull", {}, route={"id": "dir"})

    assert answer.status_code == 502
    assert json.loads(answer.get_body())["detail"].startswith("target 'dir' could not be read: LDAP directory unreachable")


@pytest.fixture
def tenant(rt, monkeypatch):
    """An entra target on the Graph stand-in granting Finance employees an account; Ada hired."""
    monkeypatch.setenv("ROSTER_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("ROSTER_TARGET_SECRET_GRAPH_TOKEN", TOKEN)
    with graph_standin() as graph:
        groups.create_group(rt, GroupIn(id="fin-employees", name="Finance", kind="dynamic", rule=FIN_RULE), "admin")
        repo = TargetRepository(rt.store)
        repo.save(Target(id="tenant", name="Entra", connector="entra", settings=graph.settings()))
        repo.add_policy("tenant", Policy(group_id="fin-employees", entitlement="account"))
        run_sync(rt, PersonUpdate.model_validate(hr_update()), "hr")
        yield graph


def the_order(rt):
    [order] = [o for o in OrderRepository(rt.store).of_person(_person(rt)) if o.target_id == "tenant"]
    return order


def _person(rt) -> str:
    [(person_id, _)] = list(OrderRepository(rt.store).assigned("tenant"))
    return person_id


def test_graph_throttling_puts_the_order_off_by_retry_after_through_a_scheduled_redelivery(rt, tenant):
    queue = rt.settings.queue("provisioning-order")
    rt.bus.purge(queue)
    tenant.fail("GET", r"/users/", 429, retry_after=30)

    order = delivery.execute(rt, the_order(rt).id)

    at = rt.clock.now() + timedelta(seconds=30)
    assert (order.state, order.failures, order.next_attempt_at) == (OrderState.pending, 1, at)
    assert order.history[-1].note == f"Graph 429 on GET /users/{{upn}} (attempt 1 of 3); next attempt at {at.isoformat()}"
    assert rt.bus.receive(queue) is None  # not before the 30 seconds Graph asked for
    assert rt.bus.next_due(queue) == at

    rt.clock.advance(timedelta(seconds=31))
    message = rt.bus.receive(queue)
    assert json.loads(message.body) == {"order_id": order.id}
    assert delivery.execute(rt, order.id).state == OrderState.executed
    assert tenant.user_by_upn("ada.lovelace@example.edu") is not None


def test_an_order_graph_keeps_refusing_is_errored_after_the_targets_attempts(rt, tenant):
    tenant.fail("GET", r"/users/", 503, times=100)
    order = the_order(rt)

    for _ in range(3):
        order = delivery.execute(rt, order.id)
        rt.clock.advance(timedelta(minutes=16))

    assert order.state == OrderState.errored
    assert order.error == "Graph 503 on GET /users/{upn} after 3 attempts"


def test_a_grant_waits_for_its_put_off_account_without_calling_graph(rt, tenant):
    gid = tenant.group()
    TargetRepository(rt.store).add_policy("tenant", Policy(group_id="fin-employees", entitlement=f"group:{gid}"))
    tenant.fail("POST", r"^/v1\.0/users$", 429, retry_after=20)
    person_id = _person(rt)

    evaluate_provisioning(rt, person_id, "policy added")
    account, grant = sorted((o for o in OrderRepository(rt.store).of_person(person_id) if o.target_id == "tenant"),
                            key=lambda o: o.action != "create_account")
    delivery.execute(rt, account.id)  # throttled
    calls = len(tenant.calls)
    waiting = delivery.execute(rt, grant.id)

    assert waiting.state == OrderState.pending and waiting.failures == 0
    assert waiting.history[-1].note.startswith("waits for the account's order; next attempt at")
    assert len(tenant.calls) == calls  # Graph was not called for the grant
    rt.clock.advance(timedelta(seconds=21))
    assert delivery.execute(rt, account.id).state == OrderState.executed
    rt.clock.advance(timedelta(seconds=10))
    assert delivery.execute(rt, grant.id).state == OrderState.executed
    assert tenant.groups[gid] == {tenant.user_by_upn("ada.lovelace@example.edu")["id"]}


def test_delta_reconciliation_verifies_then_reports_a_user_deleted_in_the_tenant_as_missing(rt, tenant):
    order = delivery.execute(rt, the_order(rt).id)
    first = target_reading.pull(rt, "tenant", "staff")
    user = tenant.user_by_upn("ada.lovelace@example.edu")
    del tenant.users[user["id"]]
    tenant.log.append(("user", user["id"], ""))  # the portal's delete, as delta reports it
    second = target_reading.pull(rt, "tenant", "staff")

    assert first["verified"] == [order.id] and first["read"] == {"accounts": 1, "by": "delta"}
    assert second["drift"]["missing"] == [{"person_id": order.person_id, "entitlement": "account"}]
    assert second["read"] == {"accounts": 0, "by": "delta"}
    assert sum(1 for c in tenant.calls if c.path.endswith("/delta")) == 4  # users and groups, twice


def test_the_hourly_timer_reads_every_readable_target_and_one_that_fails_does_not_stop_it(functions, rt, tenant,
                                                                                           monkeypatch):
    order = delivery.execute(rt, the_order(rt).id)
    monkeypatch.setenv("ROSTER_TARGET_SECRET_LDAP", "pw")
    TargetRepository(rt.store).save(Target(id="a-dir", name="Dir", connector="ldap", settings={
        **LDAP, "url": "ldap://127.0.0.1:9", "timeout_seconds": 2}))  # unreachable, and read first
    TargetRepository(rt.store).save(Target(id="wiki", name="Wiki"))  # manual: not read

    functions["targets_reconcile_timer"](TimerRequest(past_due=False))

    assert orders.get_order(rt, order.id).state == OrderState.verified
    assert orders.get_order(rt, order.id).history[-1].by == "roster:timer"
