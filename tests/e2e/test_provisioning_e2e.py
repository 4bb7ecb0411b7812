"""Seeds (a) and (b) of provisioning, over HTTP through devhost."""

from __future__ import annotations

from tests.factories import FIN_RULE, hr_update
from tests.helpers.keys import auth


def setup_finance(client, host) -> None:
    """A manual wiki for Finance employees; waits for the new group's first evaluation."""
    assert client.post("/api/targets", headers=auth("admin-key"),
                       json={"id": "wiki", "name": "Wiki", "connector": "manual", "on_remove": "disable"}).status_code == 201
    assert client.post("/api/groups", headers=auth("groups-key"), json={
        "id": "fin-employees", "name": "Finance", "kind": "dynamic", "rule": FIN_RULE}).status_code == 201
    assert client.post("/api/targets/wiki/policies", headers=auth("admin-key"),
                       json={"group_id": "fin-employees", "entitlement": "account"}).status_code == 201
    host.drain(timeout=20)


def ended(source_id: str) -> dict:
    body = hr_update(source_id=source_id, as_of="2026-11-02T08:30:00+00:00")
    body["affiliations"][0]["end"] = "2026-11-01"
    return body


def test_job_end_to_disable_orders_worklist_confirm_bulk_reconcile_verified(travel):
    client, host, _ = travel
    setup_finance(client, host)
    people = []
    for source_id in ("E1", "E2"):
        body = client.post("/api/persons", json=hr_update(source_id=source_id), headers=auth("hr-key")).json()
        assert [(o["action"], o["state"]) for o in body["orders"]] == [("create_account", "Transmitted")]
        people.append(body["person"]["id"])
    worklist = client.get("/api/orders", params={"target": "wiki", "state": "Transmitted"}, headers=auth("staff-key"))
    creates = [o["id"] for o in worklist.json()["items"]]
    assert len(creates) == 2
    assert client.post(f"/api/orders/{creates[0]}/confirm", headers=auth("staff-key")).json()["state"] == "Executed"
    again = client.post(f"/api/orders/{creates[0]}/confirm", headers=auth("staff-key"))
    assert again.status_code == 409 and again.json()["current_state"] == "Executed"
    client.post("/api/orders/bulk", headers=auth("staff-key"), json={"action": "confirm", "ids": [creates[1]]})

    for source_id in ("E1", "E2"):
        left = client.post("/api/persons", json=ended(source_id), headers=auth("hr-key")).json()
        assert [g["group_id"] for g in left["groups"]["removed"]] == ["fin-employees"]
        assert [(o["action"], o["state"]) for o in left["orders"]] == [("disable_account", "Transmitted")]
    disables = [o["id"] for o in client.get("/api/orders", params={"target": "wiki", "state": "Transmitted"},
                                            headers=auth("staff-key")).json()["items"]]
    bulk = client.post("/api/orders/bulk", headers=auth("staff-key"),
                       json={"action": "confirm", "ids": [*disables, "unknown.id"]}).json()["results"]
    assert [r["ok"] for r in bulk] == [True, True, False]

    csv = "person_id,active\n" + "".join(f"{p},false\n" for p in people)
    report = client.post("/api/targets/wiki/reconcile", content=csv.encode(),
                         headers={**auth("staff-key"), "Content-Type": "text/csv"}).json()
    assert sorted(report["verified"]) == sorted(disables)
    access = client.get(f"/api/persons/{people[0]}/access", headers=auth("staff-key")).json()["items"]
    assert [(a["status"], a["order"]["action"], a["order"]["state"]) for a in access] == [
        ("removed", "disable_account", "Verified")]
    host.drain(timeout=20)
    outbox = client.get("/api/outbox", headers=auth("admin-key")).json()["items"]
    assert any("new manual provisioning order" in e["subject"] for e in outbox)


def test_a_policy_added_later_provisions_the_groups_existing_members(travel):
    client, host, _ = travel
    client.post("/api/groups", headers=auth("groups-key"), json={
        "id": "fin-employees", "name": "Finance", "kind": "dynamic", "rule": FIN_RULE})
    host.drain(timeout=20)
    person_id = client.post("/api/persons", json=hr_update(), headers=auth("hr-key")).json()["person"]["id"]
    client.post("/api/targets", headers=auth("admin-key"), json={"id": "wiki", "name": "Wiki"})
    added = client.post("/api/targets/wiki/policies", headers=auth("admin-key"), json={"group_id": "fin-employees"})
    assert added.json()["members_to_provision"] == 1
    host.drain(timeout=20)
    orders = client.get("/api/orders", params={"person": person_id}, headers=auth("staff-key")).json()["items"]
    assert [(o["action"], o["state"]) for o in orders] == [("create_account", "Transmitted")]


def test_suspension_in_one_call_eligibility_refused_no_new_grants_then_job_end_deprovisions(travel):
    client, host, _ = travel
    setup_finance(client, host)
    hired = client.post("/api/persons", json=hr_update(), headers=auth("hr-key")).json()
    person_id = hired["person"]["id"]
    client.post(f"/api/orders/{hired['orders'][0]['id']}/confirm", headers=auth("staff-key"))

    suspended = client.post("/api/groups/suspend-immediate/members", headers=auth("officer-key"),
                            json={"person_id": person_id, "reason": "account compromised"})
    assert suspended.status_code == 200
    assert [(o["action"], o["target_id"]) for o in suspended.json()["orders"]] == [("suspend", "wiki")]
    eligibility = client.get(f"/api/persons/{person_id}/eligibility", headers=auth("reader-key")).json()
    assert eligibility["can_request"] is False and eligibility["can_recover"] is False
    assert "suspend-immediate" in eligibility["reason"]

    client.post("/api/targets", headers=auth("admin-key"), json={"id": "vpn", "name": "VPN"})
    client.post("/api/groups", headers=auth("groups-key"), json={
        "id": "fin-vpn", "name": "Finance VPN", "kind": "dynamic", "rule": FIN_RULE})
    client.post("/api/targets/vpn/policies", headers=auth("admin-key"), json={"group_id": "fin-vpn"})
    host.drain(timeout=30)  # the rule's re-evaluation batches run through the queue
    groups = client.get(f"/api/persons/{person_id}/groups", headers=auth("reader-key")).json()["items"]
    assert "fin-vpn" in {g["group_id"] for g in groups}  # newly matching: and yet no grant
    assert client.get("/api/orders", params={"target": "vpn"}, headers=auth("staff-key")).json()["items"] == []

    left = client.post("/api/persons", json=ended("E1001"), headers=auth("hr-key")).json()
    assert [o["action"] for o in left["orders"]] == ["disable_account"]
