"""The job-end scenario and the suspend guard, over HTTP through devhost, travelling in time."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.factories import FIN_RULE, hr_update
from tests.helpers.keys import auth


def groups_of(client, person_id) -> set[str]:
    items = client.get(f"/api/persons/{person_id}/groups", headers=auth("reader-key")).json()["items"]
    return {m["group_id"] for m in items if m["active"]}


def test_hr_ends_a_job_and_the_person_leaves_the_group_at_the_end_instant(travel):
    client, host, clock = travel
    created = client.post("/api/groups", headers=auth("groups-key"), json={
        "id": "fin-employees", "name": "Finance employees", "kind": "dynamic", "rule": FIN_RULE})
    assert created.status_code == 201, created.text
    host.drain(timeout=20)  # the new group's first evaluation runs through the queue

    joined = client.post("/api/persons", json=hr_update(), headers=auth("hr-key")).json()
    person_id = joined["person"]["id"]
    assert [g["group_id"] for g in joined["groups"]["added"]] == ["fin-employees"]

    upcoming = client.get(f"/api/persons/{person_id}/upcoming", headers=auth("reader-key")).json()["items"]
    assert [(u["group_id"], u["change"], u["at"]) for u in upcoming] == [
        ("fin-employees", "leave", "2026-11-30T23:00:00Z")]

    clock.set(datetime(2026, 11, 30, 22, 59, 59, tzinfo=UTC))
    host.drain(timeout=20)
    assert groups_of(client, person_id) == {"fin-employees"}

    clock.set(datetime(2026, 11, 30, 23, 0, tzinfo=UTC))
    host.drain(timeout=20)
    assert groups_of(client, person_id) == set()


def test_only_suspend_managers_change_suspend_immediate_and_it_happens_in_the_call(travel):
    client, host, _ = travel
    person_id = client.post("/api/persons", json=hr_update(), headers=auth("hr-key")).json()["person"]["id"]
    member = {"person_id": person_id, "reason": "account compromised"}

    refused = client.post("/api/groups/suspend-immediate/members", json=member, headers=auth("groups-key"))
    assert refused.status_code == 403 and "Suspend.Manage" in refused.json()["detail"]

    done = client.post("/api/groups/suspend-immediate/members", json=member, headers=auth("officer-key"))
    assert done.status_code == 200
    assert [g["group_id"] for g in done.json()["groups"]["added"]] == ["suspend-immediate"]
    assert groups_of(client, person_id) == {"suspend-immediate"}


def test_a_bad_rule_is_a_422_with_the_position_and_preview_answers_without_saving(travel):
    client, host, _ = travel
    bad = client.post("/api/groups", headers=auth("groups-key"), json={
        "id": "broken", "name": "Broken", "kind": "dynamic", "rule": 'person.givenName -eq'})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "rule" and "column" in bad.json()["errors"][0]["message"]

    client.post("/api/groups", headers=auth("groups-key"), json={
        "id": "fin-employees", "name": "Finance", "kind": "dynamic", "rule": FIN_RULE})
    host.drain(timeout=20)
    person_id = client.post("/api/persons", json=hr_update(), headers=auth("hr-key")).json()["person"]["id"]
    preview = client.post("/api/groups/fin-employees/preview", headers=auth("groups-key"),
                          json={"rule": 'person.givenName -eq "Grace"'}).json()
    assert [p["person_id"] for p in preview["leave"]] == [person_id] and preview["join"] == []
    assert client.get("/api/groups/fin-employees", headers=auth("groups-key")).json()["rule"] == FIN_RULE
