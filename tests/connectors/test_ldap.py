"""The ldap connector against a real OpenLDAP (Debian's slapd, tests/connectors/slapd.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ldap3 import MODIFY_REPLACE

from shared.connectors import ConnectorError, open_connector
from shared.connectors import ldap as ldap_connector
from shared.models.person import Person
from shared.models.provisioning import Action, OrderState
from tests.connectors.directory import Orders, a_person, a_target
from tests.connectors.slapd import ADMIN_PASSWORD, FINANCE, PASSWORD_ENV, PEOPLE, VPN, Slapd, slapd


@pytest.fixture(scope="module")
def directory(tmp_path_factory) -> Iterator[Slapd]:
    with slapd(tmp_path_factory.mktemp("slapd")) as server:
        yield server


@pytest.fixture(autouse=True)
def environment(monkeypatch) -> None:
    monkeypatch.setenv("ROSTER_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv(PASSWORD_ENV, ADMIN_PASSWORD)


class Ldap(Orders):
    """Orders for one person in the directory."""

    def __init__(self, directory: Slapd, person: Person, **settings):
        super().__init__(a_target("ldap", directory.settings(**settings)), person)
        self.directory = directory
        self.dn = ""

    @property
    def entry(self) -> dict | None:
        return self.directory.entry(self.dn)


_count = iter(range(1, 10_000))


@pytest.fixture
def ldap(directory) -> Ldap:
    """A person of their own (the directory lives for the whole module)."""
    n = next(_count)
    person = a_person(f"p-{n}", given="Grace", family=f"Hopper{n}", email=f"grace{n}@example.edu")
    ldap = Ldap(directory, person)
    ldap.dn = f"uid=grace.hopper{n},{PEOPLE}"
    return ldap


def test_create_account_adds_an_inetorgperson_named_by_the_template(ldap):
    outcome = ldap.do(Action.create_account)

    assert outcome.state == OrderState.executed
    entry = ldap.entry
    assert entry["objectClass"] == ["inetOrgPerson"]
    assert entry["employeeNumber"] == [ldap.person.id]
    assert (entry["givenName"], entry["sn"], entry["mail"]) == (["Grace"], [ldap.person.names.family],
                                                                [ldap.person.primary_email])
    assert outcome.external_id == entry["entryUUID"][0]
    assert "userPassword" not in entry  # Roster holds no password


def test_a_taken_uid_gets_a_suffix_and_a_retried_create_adopts_its_entry(directory):
    first = Ldap(directory, a_person("p-twin-1", given="Émile", family="Zola"))
    second = Ldap(directory, a_person("p-twin-2", given="Emile", family="Zola"))

    first.do(Action.create_account)
    second.do(Action.create_account)
    second.external_id = None  # as if the first attempt crashed before Roster kept the id
    again = second.do(Action.create_account)

    assert directory.entry(f"uid=emile.zola,{PEOPLE}")["employeeNumber"] == ["p-twin-1"]
    assert directory.entry(f"uid=emile.zola2,{PEOPLE}")["employeeNumber"] == ["p-twin-2"]
    assert again.note.endswith("adopted")
    assert [dn for dn in directory.people() if "zola" in dn] == [f"uid=emile.zola,{PEOPLE}", f"uid=emile.zola2,{PEOPLE}"]


def test_the_kept_entry_uuid_finds_the_entry_even_after_a_rename(ldap):
    ldap.do(Action.create_account)
    with ldap.directory.admin() as conn:
        conn.modify_dn(ldap.dn, "uid=renamed." + ldap.person.id)

    outcome = ldap.do(Action.disable_account)

    assert outcome.state == OrderState.executed
    assert ldap.directory.entry(f"uid=renamed.{ldap.person.id},{PEOPLE}")["pwdAccountLockedTime"] == [b"000001010000Z"]


def test_disable_locks_the_entry_with_ppolicy_so_it_cannot_bind_and_restore_unlocks(ldap):
    ldap.do(Action.create_account)
    with ldap.directory.admin() as conn:  # the institution's own password process
        conn.modify(ldap.dn, {"userPassword": [(MODIFY_REPLACE, ["initial-pw"])]})
    assert ldap.directory.can_bind(ldap.dn, "initial-pw")

    suspended = ldap.do(Action.suspend)

    assert suspended.state == OrderState.executed
    assert ldap.entry["pwdAccountLockedTime"] == [b"000001010000Z"]
    assert not ldap.directory.can_bind(ldap.dn, "initial-pw")
    assert ldap.do(Action.disable_account).state == OrderState.executed  # idempotent

    assert ldap.do(Action.restore).state == OrderState.executed
    assert ldap.entry["pwdAccountLockedTime"] == []
    assert ldap.directory.can_bind(ldap.dn, "initial-pw")


def test_group_membership_is_granted_and_revoked_idempotently(ldap):
    ldap.do(Action.create_account)

    granted = ldap.do(Action.grant, f"group:{FINANCE}")
    again = ldap.do(Action.grant, f"group:{FINANCE}")

    assert granted.note.endswith("added to the group") and again.note.endswith("already in the group")
    assert ldap.dn.lower() in ldap.directory.members(FINANCE)
    assert ldap.do(Action.revoke, f"group:{FINANCE}").state == OrderState.executed
    assert ldap.dn.lower() not in ldap.directory.members(FINANCE)
    gone = ldap.do(Action.revoke, f"group:{FINANCE}")
    assert gone.state == OrderState.verified and gone.note.endswith("not in the group")


def test_a_group_that_does_not_exist_errors_the_order(ldap):
    ldap.do(Action.create_account)

    outcome = ldap.do(Action.grant, "group:cn=nope,ou=groups,dc=example,dc=edu")

    assert outcome.state == OrderState.errored and outcome.note == "no such group in the directory"


def test_delete_account_removes_the_entry_and_its_memberships(ldap):
    ldap.do(Action.create_account)
    ldap.do(Action.grant, f"group:{VPN}")

    assert ldap.do(Action.delete_account).state == OrderState.executed
    assert ldap.entry is None
    assert ldap.dn.lower() not in ldap.directory.members(VPN)
    assert ldap.do(Action.delete_account).state == OrderState.verified


def test_an_entitlement_that_is_not_a_group_dn_errors_the_order(ldap):
    ldap.do(Action.create_account)

    assert "must be account or group:<DN>" in ldap.do(Action.grant, "license:x").note
    assert "group: must be an LDAP distinguished name" in ldap.do(Action.grant, "group:not a dn").note


def test_a_wrong_bind_password_errors_the_order_naming_the_bind(ldap, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "wrong")

    outcome = ldap.do(Action.create_account)

    assert outcome.state == OrderState.errored
    assert outcome.note == "LDAP bind: invalidCredentials; the bind was refused (invalid credentials)"


def test_an_unreachable_directory_is_a_transient_outcome(ldap):
    ldap.target = a_target("ldap", ldap.directory.settings(url="ldap://127.0.0.1:9", timeout_seconds=2))

    outcome = ldap.do(Action.create_account, attempts=1)

    assert outcome.transient and outcome.retry_after is None  # the wait is the service's (redelivery)
    assert outcome.note.startswith("LDAP directory unreachable")


def test_reconciliation_reads_every_entry_and_group_by_paged_search(directory, monkeypatch):
    people = [Ldap(directory, a_person(f"p-page-{n}", given="Page", family=f"Person{n}", email=None))
              for n in range(5)]
    for ldap in people:
        ldap.do(Action.create_account)
    people[0].do(Action.grant, f"group:{VPN}")
    people[1].do(Action.disable_account)
    monkeypatch.setattr(ldap_connector, "PAGE_SIZE", 2)

    accounts = {a["person_id"]: a for a in open_connector(people[0].target).accounts(people[0].target)}

    assert {f"p-page-{n}" for n in range(5)} <= set(accounts)
    assert accounts["p-page-0"]["entitlements"] == [f"group:{VPN}"]
    assert accounts["p-page-0"]["external_id"] == people[0].external_id
    assert accounts["p-page-1"]["active"] is False and accounts["p-page-2"]["active"] is True


def test_reconciliation_of_an_unreachable_directory_raises_connector_error(directory):
    target = a_target("ldap", directory.settings(url="ldap://127.0.0.1:9", timeout_seconds=2))

    with pytest.raises(ConnectorError, match="LDAP directory unreachable"):
        open_connector(target).accounts(target)


def test_ldaps_with_the_directorys_ca_carries_out_orders(directory):
    ldap = Ldap(directory, a_person("p-tls-1", given="Tls", family="Ldaps"),
                url=directory.ldaps_url, ca_certificates=directory.ca)

    assert ldap.do(Action.create_account).state == OrderState.executed
    assert directory.entry(f"uid=tls.ldaps,{PEOPLE}")["employeeNumber"] == ["p-tls-1"]


def test_start_tls_on_plain_ldap_to_a_named_host_carries_out_orders(directory, monkeypatch):
    # StartTLS needs no plain-ldap exception; the directory listening on 127.0.0.1 still needs
    # the development setting for its address (docs/security.md §1), which the suite sets.
    url = directory.url.replace("127.0.0.1", "localhost")
    ldap = Ldap(directory, a_person("p-tls-2", given="Tls", family="Start"), url=url, start_tls=True,
                ca_certificates=directory.ca)

    assert ldap.do(Action.create_account).state == OrderState.executed
    assert directory.entry(f"uid=tls.start,{PEOPLE}")["employeeNumber"] == ["p-tls-2"]


def test_a_certificate_nobody_trusts_errors_the_order_and_is_not_retried(directory):
    ldap = Ldap(directory, a_person("p-tls-3", given="Tls", family="Untrusted"), url=directory.ldaps_url)

    outcome = ldap.do(Action.create_account)

    assert outcome.state == OrderState.errored
    assert outcome.note == "the directory's TLS certificate is not trusted (settings.ca_certificates)"
    assert directory.entry(f"uid=tls.untrusted,{PEOPLE}") is None


def test_active_directory_disables_by_the_0x2_flag_of_user_account_control_keeping_the_others():
    settings = ldap_connector.LdapSettings.model_validate({
        "url": "ldaps://dc.example.edu", "flavour": "ad", "domain": "example.edu", "base_dn": "ou=Staff,dc=example,dc=edu",
        "bind_dn": "cn=roster,dc=example,dc=edu", "password_env": PASSWORD_ENV})
    entry = ldap_connector._Entry(None, settings, a_person(), None)  # no connection: only the changes
    normal_no_expiry = {"attributes": {"userAccountControl": 0x200 | 0x10000}}
    disabled = {"attributes": {"userAccountControl": 0x200 | 0x10000 | 0x2}}

    assert entry._lock_change(True, normal_no_expiry)["userAccountControl"][0][1] == [str(0x200 | 0x10000 | 0x2)]
    assert entry._lock_change(False, disabled)["userAccountControl"][0][1] == [str(0x200 | 0x10000)]
    assert ldap_connector._active(normal_no_expiry, settings) and not ldap_connector._active(disabled, settings)
    assert entry._attributes("ada.lovelace")["userPrincipalName"] == "ada.lovelace@example.edu"
    assert entry._attributes("a" * 30)["sAMAccountName"] == "a" * 20
