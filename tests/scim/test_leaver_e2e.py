"""Done-when of issue #16: a leaver sent by an Entra-built HR integration as `active: false`
is deprovisioned through the usual chain — registration, groups, provisioning orders —
over devhost, in sync mode (one answer) and in async mode (through the queues)."""

from __future__ import annotations

import pytest

from tests.scim import entra
from tests.scim.support import auth, devhost, send

RULE = 'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -eq "Tour Operations")'
URL = "/api/servicePrincipals/workday/synchronization/jobs/job-1/bulkUpload"


def setup_wiki(client, host) -> None:
    """A manual wiki account for everyone in Tour Operations."""
    json_admin = auth("admin-key", "application/json")
    assert client.post("/api/targets", headers=json_admin, json={
        "id": "wiki", "name": "Wiki", "connector": "manual", "on_remove": "disable"}).status_code == 201
    assert client.post("/api/groups", headers=auth("groups-key", "application/json"), json={
        "id": "tour-ops", "name": "Tour Operations", "kind": "dynamic", "rule": RULE}).status_code == 201
    assert client.post("/api/targets/wiki/policies", headers=json_admin,
                       json={"group_id": "tour-ops", "entitlement": "account"}).status_code == 201
    assert client.put("/api/sources/workday/mapping", headers=json_admin,
                      json=entra.CONTOSO_MAPPING).status_code == 200
    host.drain(timeout=20)


def orders_of(client, person_id: str) -> list[tuple[str, str]]:
    items = client.get("/api/orders", params={"person": person_id}, headers=auth("staff-key", None)).json()["items"]
    return sorted((o["action"], o["state"]) for o in items)


@pytest.mark.parametrize("chain", ["sync", "async"])
def test_a_leaver_sent_inactive_is_deprovisioned_through_the_chain(tmp_path, chain):
    with devhost(tmp_path, ROSTER_CHAIN=chain) as (client, host):
        setup_wiki(client, host)
        hired = send(client, "POST", URL, body=entra.bulk(entra.operation(entra.BARBARA)))
        person_id = hired.json()["Operations"][0]["personId"]
        host.drain(timeout=20)
        assert orders_of(client, person_id) == [("create_account", "Transmitted")]
        groups = client.get(f"/api/persons/{person_id}/groups", headers=auth("reader-key", None)).json()["items"]
        assert [g["group_id"] for g in groups] == ["tour-ops"]
        [create] = client.get("/api/orders", params={"person": person_id}, headers=auth("staff-key", None)).json()[
            "items"]
        assert client.post(f"/api/orders/{create['id']}/confirm", headers=auth("staff-key", None)).status_code == 200

        left = send(client, "POST", URL, body=entra.bulk(entra.operation(
            entra.leaver(entra.BARBARA, "2026-11-20T08:00:00Z"))))
        assert left.json()["Operations"][0]["outcome"] == "disabled"
        host.drain(timeout=20)
        groups = client.get(f"/api/persons/{person_id}/groups", headers=auth("reader-key", None)).json()["items"]
        assert groups == []
        assert orders_of(client, person_id) == [("create_account", "Executed"), ("disable_account", "Transmitted")]
