"""Item 1 of issue 11: no requests to internal addresses, at save and at connect time."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from shared import outbound
from shared.config import Settings, SettingsError
from shared.connectors.registry import open_connector
from shared.models.person import Names, Person
from shared.models.provisioning import Action, Order, OrderState, Target
from shared.outbound import OutboundPolicy, OutboundRefused, check_url
from shared.services.notifications import post_to_teams
from tests.hardening.calls import call, payload, problem_fields, receiver

STRICT = OutboundPolicy()
DEV = OutboundPolicy(allow_loopback=True)
ROOT = Path(__file__).resolve().parents[2]


def no_dns(host: str, port: int) -> list[str]:
    return []


@pytest.mark.parametrize("url", [
    "https://169.254.169.254/metadata/instance",  # cloud metadata
    "https://[fe80::1]/x",
    "https://0.0.0.0/x",
    "https://[::]/x",
    "https://224.0.0.1/x",
    "https://[ff02::1]/x",
    "https://255.255.255.255/x",
    "https://[::ffff:169.254.169.254]/x",  # link-local behind an IPv4-mapped address
])
def test_link_local_unspecified_and_multicast_are_refused_even_with_every_allowance(url):
    everything = OutboundPolicy(True, tuple(map(outbound.ipaddress.ip_network, ("0.0.0.0/0", "::/0"))))

    with pytest.raises(OutboundRefused) as refused:
        check_url(url, "settings.url", everything, no_dns)

    assert refused.value.errors[0].field == "settings.url"


@pytest.mark.parametrize("url", [
    "https://10.1.2.3/scim", "https://172.16.0.9/", "https://192.168.1.1/", "https://[fd00::5]/",
    "https://100.64.0.1/",
])
def test_private_addresses_are_refused_unless_an_allowed_cidr_names_them(url):
    with pytest.raises(OutboundRefused, match="private address outside ROSTER_OUTBOUND_ALLOW_CIDRS"):
        check_url(url, "settings.url", STRICT, no_dns)

    allowed = OutboundPolicy.from_env({"ROSTER_OUTBOUND_ALLOW_CIDRS": "10.0.0.0/8, 172.16.0.0/12,192.168.1.0/24,"
                                                                      "fd00::/8,100.64.0.0/10"})
    assert check_url(url, "settings.url", allowed, no_dns) == url


def test_an_allowed_cidr_does_not_open_its_neighbours():
    allowed = OutboundPolicy.from_env({"ROSTER_OUTBOUND_ALLOW_CIDRS": "10.20.0.0/16"})

    assert check_url("https://10.20.3.4/", "url", allowed, no_dns)
    with pytest.raises(OutboundRefused):
        check_url("https://10.21.3.4/", "url", allowed, no_dns)


def test_loopback_needs_the_development_setting():
    for url in ("http://127.0.0.1:8080/hook", "https://[::1]/hook", "http://localhost:9/x"):
        with pytest.raises(OutboundRefused, match="loopback"):
            check_url(url, "settings.url", STRICT)
        assert check_url(url, "settings.url", DEV) == url


def test_a_name_resolving_to_an_internal_address_is_refused_at_save():
    def internal(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.0.0.7"]  # one bad address is enough

    with pytest.raises(OutboundRefused, match="10.0.0.7"):
        check_url("https://app.example.com/scim", "settings.url", STRICT, internal)


@pytest.mark.parametrize(("url", "says"), [
    ("http://app.example.com/hook", "must be https"),
    ("https://user:pw@app.example.com/", "must not carry credentials"),
    ("ftp://app.example.com/", "must be an https URL"),
    ("https://app.example.com:99999/", "port"),
    ("", "an https URL"),
])
def test_urls_that_are_not_plain_https_are_refused(url, says):
    with pytest.raises(OutboundRefused, match=says):
        check_url(url, "settings.url", DEV, lambda host, port: ["93.184.215.14"])


def test_a_bad_allowlist_setting_is_refused_naming_it():
    with pytest.raises(SettingsError, match="ROSTER_OUTBOUND_ALLOW_CIDRS"):
        Settings.from_env({"ROSTER_OUTBOUND_ALLOW_CIDRS": "10.0.0.0/33"})


# -- connect time ---------------------------------------------------------------------------


def test_the_transport_connects_to_the_address_it_checked_keeping_the_name_for_host():
    with receiver() as (port, seen):
        resolved = []

        def resolve(host: str, port: int) -> list[str]:
            resolved.append(host)
            return ["127.0.0.1"]

        transport = outbound.PinnedTransport(DEV, resolve=resolve)
        with httpx.Client(transport=transport) as client:
            response = client.post(f"http://hooks.roster.test:{port}/x", json={})

    assert response.status_code == 204
    assert resolved == ["hooks.roster.test"]  # resolved once, by the check
    assert seen[0]["Host"] == f"hooks.roster.test:{port}"


def test_dns_rebinding_to_an_internal_address_is_refused_at_connect_time():
    answers = iter([["93.184.215.14"], ["169.254.169.254"]])

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    check_url("https://rebind.example.com/", "settings.url", STRICT, rebinding)  # saved: public then
    transport = outbound.PinnedTransport(STRICT, resolve=rebinding)
    with httpx.Client(transport=transport) as client, pytest.raises(outbound.AddressRefused, match="link-local"):
        client.get("https://rebind.example.com/")


def _order() -> Order:
    now = datetime(2026, 11, 2, tzinfo=UTC)
    return Order(id="o-1", person_id="p-1", target_id="app", entitlement="account", action=Action.create_account,
                 state=OrderState.pending, reason="test", created_at=now, updated_at=now)


def _person() -> Person:
    now = _order().created_at
    return Person(id="p-1", names=Names(given="Ada", family="Lovelace"), created_at=now, updated_at=now)


def test_a_stored_target_pointing_at_loopback_errors_its_order_without_the_development_setting(monkeypatch):
    monkeypatch.delenv("ROSTER_ALLOW_LOOPBACK", raising=False)
    monkeypatch.setenv("ROSTER_TARGET_SECRET_HOOK", "s3cret")
    with receiver() as (port, seen):
        target = Target(id="app", name="App", connector="webhook",
                        settings={"url": f"http://127.0.0.1:{port}/x", "secret_env": "ROSTER_TARGET_SECRET_HOOK"})
        outcome = open_connector(target).execute(target, _order(), _person(), None)

    assert outcome.state == OrderState.errored
    assert "loopback" in outcome.note
    assert seen == []


def test_the_teams_webhook_is_checked_when_settings_load_and_at_every_post(rt, monkeypatch):
    with pytest.raises(SettingsError, match="ROSTER_TEAMS_WEBHOOK"):
        Settings.from_env({"ROSTER_TEAMS_WEBHOOK": "https://169.254.169.254/hook"})
    with pytest.raises(SettingsError, match="loopback"):
        Settings.from_env({"ROSTER_TEAMS_WEBHOOK": "http://127.0.0.1:9/hook"})

    with receiver() as (port, seen):
        strict = dataclasses.replace(rt.settings, teams_webhook=f"http://127.0.0.1:{port}/hook", outbound=STRICT)
        assert post_to_teams(strict, {"type": "message"}, "request REQ-000001") is False
        assert seen == []
        assert post_to_teams(dataclasses.replace(strict, outbound=DEV), {"type": "message"}, "REQ-000001") is True
        assert len(seen) == 1


# -- at save, through the API -------------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://169.254.169.254/latest/meta-data", "https://10.0.0.5/scim/v2",
                                 "https://[fe80::1]/", "https://user:pass@scim.example.com/"])
def test_saving_a_target_with_an_internal_url_is_a_422_naming_the_field(rt, url):
    target = {"id": "app", "name": "App", "connector": "scim", "settings": {"url": url}}

    created = call("targets_create", "POST", body=target)
    call("targets_create", "POST", body={"id": "app", "name": "App", "connector": "manual"})
    updated = call("targets_update", "PUT", body=target, route={"id": "app"})

    assert (created.status_code, updated.status_code) == (422, 422)
    assert problem_fields(created) == problem_fields(updated) == ["settings.url"]
    assert payload(call("targets_get", route={"id": "app"}))["connector"] == "manual"


def test_the_loopback_development_setting_is_on_in_the_local_sample_and_never_in_infra():
    sample = (ROOT / "local.settings.sample.json").read_text()
    assert '"ROSTER_ALLOW_LOOPBACK": "true"' in sample
    infra = [p for p in (ROOT / "infra").rglob("*") if p.is_file()]
    assert infra and not [p for p in infra if "ROSTER_ALLOW_LOOPBACK" in p.read_text(errors="ignore")]


@pytest.mark.parametrize(("url", "says"), [
    ("https://169.254.169.254/org", "link-local"),
    ("https://10.1.1.1/org", "private"),
])
def test_the_devops_organization_url_gets_the_same_check(url, says):
    from shared.tickets import TicketSettingsError
    from shared.tickets.settings import DevOpsSettings

    env = {"ROSTER_TICKETS": "azure_devops", "ROSTER_DEVOPS_URL": url, "ROSTER_DEVOPS_PROJECT": "Desk"}
    with pytest.raises(TicketSettingsError, match=says):
        DevOpsSettings.from_env(env)
    allowed = DevOpsSettings.from_env({**env, "ROSTER_OUTBOUND_ALLOW_CIDRS": "10.0.0.0/8"}) if says == "private" else None
    assert allowed is None or allowed.url == url


LDAP = {"base_dn": "ou=people,dc=example,dc=edu", "bind_dn": "cn=roster,dc=example,dc=edu",
        "password_env": "ROSTER_TARGET_SECRET_LDAP"}


@pytest.mark.parametrize("url", ["ldaps://169.254.169.254", "ldaps://10.0.0.9:636", "ldaps://[fe80::1]"])
def test_an_ldap_directory_at_an_internal_address_is_refused_at_save(rt, url):
    response = call("targets_create", "POST", body={"id": "dir", "name": "LDAP", "connector": "ldap",
                                                     "settings": {**LDAP, "url": url}})

    assert response.status_code == 422
    assert problem_fields(response) == ["settings.url"]


def test_an_ldap_directory_at_an_internal_address_is_refused_at_connect_time(monkeypatch):
    from shared.connectors.base import Refused
    from shared.connectors.ldap import connection
    from shared.models.target_settings import LdapSettings

    monkeypatch.setenv("ROSTER_TARGET_SECRET_LDAP", "pw")
    settings = LdapSettings.model_validate({**LDAP, "url": "ldaps://169.254.169.254"})
    with pytest.raises(Refused, match="link-local"), connection(settings):
        pass


# -- the one scheme rule of every configured URL ------------------------------------------------


@pytest.mark.parametrize(("url", "allow_loopback", "refused"), [
    ("https://scim.example.com/v2", False, None),
    ("http://127.0.0.1:8080/hook", True, None),
    ("http://localhost/hook", True, None),
    ("http://[::1]/hook", True, None),
    ("http://127.0.0.1:8080/hook", False, "must be https (plain http only to the loopback with ROSTER_ALLOW_LOOPBACK=true)"),
    ("http://scim.example.com/v2", True, "must be https (plain http only to the loopback with ROSTER_ALLOW_LOOPBACK=true)"),
    ("ftp://scim.example.com/", True, "must be https (plain http only to the loopback with ROSTER_ALLOW_LOOPBACK=true)"),
    ("https:///no-host", True, "must be an absolute URL with a host"),
])
def test_a_configured_url_is_https_or_plain_http_only_to_an_allowed_loopback(url, allow_loopback, refused):
    assert outbound.scheme_refusal(url, {"https"}, {"http"}, allow_loopback) == refused


def test_the_target_form_and_the_ticket_tracker_use_the_same_scheme_rule(monkeypatch):
    from shared.models.target_settings import outbound_url
    from shared.tickets.settings import TicketSettingsError, _organization_url

    monkeypatch.setattr(outbound, "installed_policy", lambda: outbound.OutboundPolicy(allow_loopback=False))
    with pytest.raises(ValueError, match="plain ldap only to the loopback"):
        outbound_url("ldap://127.0.0.1:389", {"ldaps"}, {"ldap"})
    with pytest.raises(TicketSettingsError, match="ROSTER_DEVOPS_URL must be https"):
        _organization_url("http://127.0.0.1:8080/org", allow_loopback=False)
    assert _organization_url("http://127.0.0.1:8080/org/", allow_loopback=True) == "http://127.0.0.1:8080/org"
