"""Item 2 of issue 11: connector credentials only from ROSTER_TARGET_SECRET_*, never shown."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.connectors.registry import open_connector
from shared.models.person import Names, Person
from shared.models.provisioning import Action, Order, OrderState, Target
from shared.secrets import SecretRefused, check_secret_name, secret
from tests.hardening.calls import call, payload, problem_fields, receiver

NOW = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.mark.parametrize(("connector", "key", "name"), [
    ("scim", "token_env", "ROSTER_API_KEYS"),
    ("scim", "token_env", "SENDGRID_API_KEY"),
    ("webhook", "secret_env", "AzureWebJobsStorage"),
    ("webhook", "secret_env", "ROSTER_TARGET_SECRET_"),
    ("webhook", "secret_env", "roster_target_secret_lower"),
])
def test_a_secret_named_outside_the_namespace_is_refused_at_save(rt, connector, key, name):
    target = {"id": "app", "name": "App", "connector": connector,
              "settings": {"url": "https://93.184.215.14/x", key: name}}

    response = call("targets_create", "POST", body=target)

    assert response.status_code == 422
    assert problem_fields(response) == [f"settings.{key}"]
    assert call("targets_get", route={"id": "app"}).status_code == 404


@pytest.mark.parametrize("key", ["token", "client_secret", "password", "api_key"])
def test_a_secret_value_in_the_settings_is_refused_at_save(rt, key):
    target = {"id": "app", "name": "App", "connector": "manual", "settings": {key: "hunter2"}}

    response = call("targets_create", "POST", body=target)

    assert response.status_code == 422
    assert problem_fields(response) == [f"settings.{key}"]


def test_a_secret_in_the_namespace_is_accepted_and_only_its_name_is_shown(rt, monkeypatch):
    monkeypatch.setenv("ROSTER_TARGET_SECRET_WIKI_TOKEN", "the-token-value")
    target = {"id": "app", "name": "App", "connector": "scim",
              "settings": {"url": "https://93.184.215.14/scim", "token_env": "ROSTER_TARGET_SECRET_WIKI_TOKEN"}}

    assert call("targets_create", "POST", body=target).status_code == 201

    for response in (call("targets_get", key="operator-key", route={"id": "app"}),
                     call("targets_list", key="operator-key")):
        assert response.status_code == 200
        assert b"the-token-value" not in response.get_body()
    assert payload(call("targets_get", key="operator-key", route={"id": "app"}))["settings"]["token_env"] == (
        "ROSTER_TARGET_SECRET_WIKI_TOKEN")


def test_reading_targets_needs_provisioning_operate_or_admin(rt):
    call("targets_create", "POST", body={"id": "app", "name": "App"})

    assert call("targets_list", key="reader-key").status_code == 403
    assert call("targets_get", key="reader-key", route={"id": "app"}).status_code == 403
    assert call("targets_list", key="operator-key").status_code == 200
    assert call("targets_get", key="admin-key", route={"id": "app"}).status_code == 200


def test_a_stored_target_naming_another_variable_never_sends_it(monkeypatch):
    """A target stored before this check (or written around it) still cannot leak a key."""
    monkeypatch.setenv("ROSTER_API_KEYS", '{"very-secret-key": ["Admin"]}')
    monkeypatch.setenv("ROSTER_ALLOW_LOOPBACK", "true")
    with receiver() as (port, seen):
        target = Target(id="app", name="App", connector="webhook",
                        settings={"url": f"http://127.0.0.1:{port}/x", "secret_env": "ROSTER_API_KEYS"})
        order = Order(id="o-1", person_id="p-1", target_id="app", entitlement="account",
                      action=Action.create_account, state=OrderState.pending, reason="t", created_at=NOW,
                      updated_at=NOW)
        person = Person(id="p-1", names=Names(given="A", family="B"), created_at=NOW, updated_at=NOW)
        outcome = open_connector(target).execute(target, order, person, None)

    assert outcome.state == OrderState.errored
    assert "ROSTER_TARGET_SECRET_" in outcome.note
    assert seen == []


def test_the_helpers_name_the_field():
    assert check_secret_name("ROSTER_TARGET_SECRET_LDAP_BIND", "settings.bind_password_env")
    with pytest.raises(SecretRefused) as refused:
        secret("ROSTER_TARGET_SECRET_NOT_SET_ANYWHERE", "settings.client_secret_env", env={})
    assert refused.value.errors[0].field == "settings.client_secret_env"
    assert secret("ROSTER_TARGET_SECRET_X", "f", env={"ROSTER_TARGET_SECRET_X": "v"}) == "v"
