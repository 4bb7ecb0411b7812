"""Done-when of issue #18: joining, suspend-immediate and job end run end to end through
devhost and the provisioning-order queue against the Graph stand-in (an `entra` target) and
against a real OpenLDAP (an `ldap` target); reconciliation reads each target back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from tests.connectors.graph_standin import TOKEN, Graph, graph_standin
from tests.connectors.slapd import ADMIN_PASSWORD, FINANCE, PASSWORD_ENV, PEOPLE, VPN, Slapd, slapd
from tests.factories import hr_update

FIN_RULE = 'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -eq "FIN")'


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Tenant:
    """An entra target on the Graph stand-in, seen from the test."""

    graph: Graph
    groups: tuple[str, str]

    def target(self) -> dict[str, Any]:
        return {"id": "tenant", "name": "Entra ID", "connector": "entra", "settings": self.graph.settings()}

    def entitlements(self) -> list[str]:
        return [f"group:{g}" for g in self.groups]

    def account(self) -> tuple[bool, set[str]] | None:
        """(enabled, the groups it is in) of Ada's user, or None."""
        user = self.graph.user_by_upn("ada.lovelace@example.edu")
        if user is None:
            return None
        return user["accountEnabled"], {g for g in self.groups if user["id"] in self.graph.groups[g]}

    def sessions_revoked(self) -> bool:
        return self.graph.revoked == [self.graph.user_by_upn("ada.lovelace@example.edu")["id"]]


@dataclass
class Directory:
    """An ldap target on a real slapd, seen from the test."""

    server: Slapd
    groups: tuple[str, str] = (FINANCE, VPN)
    dn: str = f"uid=ada.lovelace,{PEOPLE}"

    def target(self) -> dict[str, Any]:
        return {"id": "tenant", "name": "OpenLDAP", "connector": "ldap", "settings": self.server.settings()}

    def entitlements(self) -> list[str]:
        return [f"group:{g}" for g in self.groups]

    def account(self) -> tuple[bool, set[str]] | None:
        entry = self.server.entry(self.dn)
        if entry is None:
            return None
        enabled = not entry.get("pwdAccountLockedTime")
        return enabled, {g for g in self.groups if self.dn.lower() in self.server.members(g)}

    def sessions_revoked(self) -> bool:
        return True  # LDAP keeps no sessions: the lock refuses the next bind


@pytest.fixture(params=["entra", "ldap"])
def system(request, monkeypatch, tmp_path) -> Iterator[Tenant | Directory]:
    monkeypatch.setenv("ROSTER_ALLOW_LOOPBACK", "true")
    if request.param == "entra":
        monkeypatch.setenv("ROSTER_TARGET_SECRET_GRAPH_TOKEN", TOKEN)
        with graph_standin() as graph:
            yield Tenant(graph, (graph.group(), graph.group()))
        assert graph.violations == []
    else:
        monkeypatch.setenv(PASSWORD_ENV, ADMIN_PASSWORD)
        with slapd(tmp_path / "slapd") as server:
            yield Directory(server)


def hire(client, host, system) -> str:
    """Finance employees get the account and both groups; Ada is hired; the queue runs."""
    client.post("/api/groups", headers=auth("groups-key"),
                json={"id": "fin-employees", "name": "Finance", "kind": "dynamic", "rule": FIN_RULE})
    assert client.post("/api/targets", headers=auth("admin-key"), json=system.target()).status_code == 201
    for entitlement in ["account", *system.entitlements()]:
        added = client.post("/api/targets/tenant/policies", headers=auth("admin-key"),
                            json={"group_id": "fin-employees", "entitlement": entitlement})
        assert added.status_code == 201, added.text
    host.drain(timeout=20)
    hired = client.post("/api/persons", json=hr_update(), headers=auth("hr-key")).json()
    assert sorted(o["action"] for o in hired["orders"]) == ["create_account", "grant", "grant"]
    host.drain(timeout=30)
    return hired["person"]["id"]


def states(client, person_id: str) -> dict[tuple[str, str], str]:
    orders = client.get("/api/orders", params={"person": person_id, "target": "tenant"},
                        headers=auth("staff-key")).json()["items"]
    return {(o["action"], o["entitlement"]): o["state"] for o in orders}


def pull(client) -> dict:
    answer = client.post("/api/targets/tenant/reconcile/pull", headers=auth("staff-key"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_joining_then_job_end_provisions_and_deprovisions_the_directory(travel, system):
    client, host, _ = travel
    person_id = hire(client, host, system)

    assert system.account() == (True, set(system.groups))
    assert set(states(client, person_id).values()) == {"Executed"}
    joined = pull(client)
    assert len(joined["verified"]) == 3 and joined["drift"]["missing"] == joined["drift"]["unexpected"] == []

    ended = hr_update(as_of="2026-11-02T08:30:00+00:00")
    ended["affiliations"][0]["end"] = "2026-11-01"
    left = client.post("/api/persons", json=ended, headers=auth("hr-key")).json()
    assert sorted(o["action"] for o in left["orders"]) == ["disable_account", "revoke", "revoke"]
    host.drain(timeout=30)

    assert system.account() == (False, set())
    pull(client)
    assert set(states(client, person_id).values()) == {"Verified"}


def test_suspend_immediate_disables_the_account_at_once(travel, system):
    client, host, _ = travel
    person_id = hire(client, host, system)

    suspended = client.post("/api/groups/suspend-immediate/members", headers=auth("officer-key"),
                            json={"person_id": person_id, "reason": "account compromised"})
    assert [(o["action"], o["target_id"]) for o in suspended.json()["orders"]] == [("suspend", "tenant")]
    host.drain(timeout=30)

    assert system.account() == (False, set(system.groups))
    assert system.sessions_revoked()
    assert states(client, person_id)[("suspend", "account")] == "Executed"
    assert pull(client)["drift"]["unexpected"] == []
    assert states(client, person_id)[("suspend", "account")] == "Verified"


def test_a_throttled_create_holds_back_the_grants_until_graph_lets_it_through(travel, monkeypatch):
    client, host, clock = travel
    monkeypatch.setenv("ROSTER_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("ROSTER_TARGET_SECRET_GRAPH_TOKEN", TOKEN)
    with graph_standin() as graph:
        tenant = Tenant(graph, (graph.group(), graph.group()))
        graph.fail("POST", r"^/v1\.0/users$", 429, retry_after=20)

        person_id = hire(client, host, tenant)
        assert tenant.account() is None
        assert set(states(client, person_id).values()) == {"Pending"}  # nothing Errored meanwhile

        clock.advance(timedelta(seconds=21))  # Graph's Retry-After has passed: the create goes through
        host.drain(timeout=30)
        assert tenant.account() == (True, set())
        clock.advance(timedelta(seconds=10))  # the grants waited 30 s for their account
        host.drain(timeout=30)

        assert tenant.account() == (True, set(tenant.groups))
        assert set(states(client, person_id).values()) == {"Executed"}
        assert graph.violations == []
