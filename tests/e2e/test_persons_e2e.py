"""An HR system talking to Roster over HTTP, through devhost and the local bus."""

from __future__ import annotations

from shared.runtime import runtime
from tests.factories import hr_update
from tests.helpers.keys import auth


def test_hr_registers_updates_and_finds_a_person_over_http(roster):
    client, _ = roster
    created = client.post("/api/persons", json=hr_update(), headers=auth("hr-key"))
    assert created.status_code == 201
    person = created.json()["person"]

    moved = hr_update(as_of="2026-11-10T08:00:00+00:00")
    moved["affiliations"][0]["organization"] = "HR"
    updated = client.post("/api/persons", json=moved, headers=auth("hr-key"))
    assert updated.status_code == 200 and updated.json()["outcome"] == "updated"

    stale = client.post("/api/persons", json=hr_update(as_of="2026-11-05T08:00:00+00:00"), headers=auth("hr-key"))
    assert stale.json()["outcome"] == "stale"

    found = client.get("/api/persons", params={"source": "hr", "source_id": "E1001"}, headers=auth("reader-key"))
    assert [p["id"] for p in found.json()["items"]] == [person["id"]]
    read = client.get(f"/api/persons/{person['id']}", headers=auth("reader-key")).json()
    assert read["affiliations"][0]["organization"] == "HR"


def test_a_person_posted_async_is_readable_once_the_queue_is_pumped(roster):
    client, host = roster
    odd_id = "a/b#c?d é"
    accepted = client.post("/api/persons", params={"mode": "async"}, json=hr_update(source_id=odd_id),
                           headers=auth("hr-key"))
    assert accepted.status_code == 202 and accepted.json()["message_id"]
    host.drain(timeout=20)

    found = client.get("/api/persons", params={"source": "hr", "source_id": odd_id}, headers=auth("reader-key"))
    assert found.status_code == 200
    [person] = found.json()["items"]
    assert person["identifiers"] == [{"source": "hr", "source_id": odd_id}]
    assert runtime().bus.receive("person-changed") is None  # consumed: groups evaluated


def test_a_malformed_queue_message_is_dead_lettered_with_a_reason_not_retried(roster):
    client, host = roster
    runtime().bus.publish("person-update", b"{broken", message_id="broken-1", session_id="hr:x")
    host.drain(timeout=20)

    parked = client.get("/api/deadletters", params={"queue": "person-update"}, headers=auth("admin-key")).json()
    assert [(p["message_id"], p["reason"], p["delivery_count"]) for p in parked["items"]] == [
        ("broken-1", "MalformedJson", 1)
    ]
    assert runtime().bus.active_count("person-update") == 0


def test_every_route_but_health_needs_a_key(roster):
    client, _ = roster
    assert client.get("/api/health").status_code == 200
    for method, path in [("GET", "/api/persons?q=ada"), ("GET", "/api/persons/x"), ("POST", "/api/persons"),
                         ("GET", "/api/openapi.json"), ("GET", "/api/outbox"), ("GET", "/api/deadletters")]:
        response = client.request(method, path)
        assert response.status_code == 401, path
        assert response.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/outbox", headers=auth("reader-key")).status_code == 403


def test_a_five_megabyte_body_is_refused_with_413(roster):
    client, _ = roster
    response = client.post("/api/persons", content=b"{" + b" " * (5 * 1024 * 1024) + b"}",
                           headers={**auth("hr-key"), "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["status"] == 413
