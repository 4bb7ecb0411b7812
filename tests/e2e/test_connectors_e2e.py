"""Seed (c): a webhook target and a SCIM target provisioned automatically, through devhost
and the provisioning-order queue, against a real webhook receiver and a real scim2-server."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from tests.factories import hr_update
from tests.helpers.keys import auth
from tests.helpers.servers import SCIM_TOKEN

FIN_RULE = 'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -eq "FIN")'
SECRET_ENV, SECRET = "ROSTER_TARGET_SECRET_TEST_WEBHOOK", "whsec-test"


def scim_user(server, person_id: str) -> dict:
    found = httpx.get(f"{server.url}/Users", params={"filter": f'externalId eq "{person_id}"'},
                      headers={"Authorization": f"Bearer {SCIM_TOKEN}"}).json()
    [user] = found["Resources"]
    return user


def test_webhook_and_scim_targets_are_provisioned_and_deprovisioned_automatically(
    travel, receiver, scim_server, monkeypatch
):
    client, host, _ = travel
    monkeypatch.setenv(SECRET_ENV, SECRET)
    client.post("/api/groups", headers=auth("groups-key"),
                json={"id": "fin-employees", "name": "Finance", "kind": "dynamic", "rule": FIN_RULE})
    for target in (
        {"id": "hooked", "name": "Hooked", "connector": "webhook",
         "settings": {"url": receiver.url, "secret_env": SECRET_ENV, "timeout_seconds": 5}},
        {"id": "scimmed", "name": "SCIM app", "connector": "scim", "settings": scim_server.settings()},
    ):
        assert client.post("/api/targets", headers=auth("admin-key"), json=target).status_code == 201
        client.post(f"/api/targets/{target['id']}/policies", headers=auth("admin-key"),
                    json={"group_id": "fin-employees"})
    client.post("/api/targets/scimmed/policies", headers=auth("admin-key"),
                json={"group_id": "fin-employees", "entitlement": "finance-editors"})

    host.drain(timeout=20)  # the new group's first evaluation
    hired = client.post("/api/persons", json=hr_update(), headers=auth("hr-key")).json()
    person_id = hired["person"]["id"]
    assert {(o["target_id"], o["action"], o["state"]) for o in hired["orders"]} == {
        ("hooked", "create_account", "Pending"), ("scimmed", "create_account", "Pending"),
        ("scimmed", "grant", "Pending")}
    host.drain(timeout=30)

    access = {(a["target_id"], a["entitlement"]): a["order"]["state"]
              for a in client.get(f"/api/persons/{person_id}/access", headers=auth("staff-key")).json()["items"]}
    assert access == {("hooked", "account"): "Executed", ("scimmed", "account"): "Verified",
                      ("scimmed", "finance-editors"): "Verified"}
    [delivery] = receiver.received
    signature = "sha256=" + hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).hexdigest()
    assert delivery.headers["X-Roster-Signature"] == signature
    assert json.loads(delivery.body)["order"]["action"] == "create_account"
    assert scim_user(scim_server, person_id)["active"] is True

    ended = hr_update(as_of="2026-11-02T08:30:00+00:00")
    ended["affiliations"][0]["end"] = "2026-11-01"
    left = client.post("/api/persons", json=ended, headers=auth("hr-key")).json()
    assert {(o["target_id"], o["action"]) for o in left["orders"]} == {
        ("hooked", "disable_account"), ("scimmed", "disable_account"), ("scimmed", "revoke")}
    host.drain(timeout=30)
    assert scim_user(scim_server, person_id)["active"] is False
    states = {o["action"]: o["state"] for o in client.get(
        "/api/orders", params={"person": person_id, "target": "scimmed"}, headers=auth("staff-key")).json()["items"]}
    assert states == {"create_account": "Verified", "grant": "Verified", "disable_account": "Verified", "revoke": "Verified"}
