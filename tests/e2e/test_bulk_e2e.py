"""Bulk load over HTTP through devhost: every record answered on its own, a repeated load
changes nothing, and a dry run says what would change without writing."""

from __future__ import annotations

import json

from tests.factories import hr_update

HR = {"Authorization": "Bearer hr-key"}
ADMIN = {"Authorization": "Bearer admin-key"}
FIN_RULE = 'person.affiliations -any (affiliation.organization -eq "FIN")'


def finance_wiki(client, host) -> None:
    assert client.post("/api/targets", headers=ADMIN, json={
        "id": "wiki", "name": "Wiki", "connector": "manual", "on_remove": "disable"}).status_code == 201
    assert client.post("/api/groups", headers=ADMIN, json={
        "id": "fin", "name": "Finance", "kind": "dynamic", "rule": FIN_RULE}).status_code == 201
    assert client.post("/api/targets/wiki/policies", headers=ADMIN,
                       json={"group_id": "fin", "entitlement": "account"}).status_code == 201
    host.drain(timeout=20)


def test_one_malformed_record_fails_alone_with_its_field_and_a_repeated_load_is_unchanged(roster):
    client, host = roster
    bad = hr_update(source_id="E3")
    bad["affiliations"][0]["start"] = "not a date"
    records = [hr_update(source_id="E1"), bad, hr_update(source_id="E2"), "not an object"]
    first = client.post("/api/persons/bulk", json=records, headers=HR)
    assert first.status_code == 200, first.text
    items = first.json()["items"]
    assert [(i["source_id"] if "source_id" in i else None, i["outcome"]) for i in items] == [
        ("E1", "created"), ("E3", "failed"), ("E2", "created"), (None, "failed")]
    assert items[1]["errors"][0]["field"] == "affiliations[0].start"
    assert first.json()["summary"] == {"created": 2, "failed": 2}
    found = client.get("/api/persons", params={"source": "hr", "source_id": "E3"}, headers=HR).json()["items"]
    assert found == []
    again = client.post("/api/persons/bulk", json=records[:1] + records[2:3], headers=HR).json()
    assert [i["outcome"] for i in again["items"]] == ["unchanged", "unchanged"]
    assert [i["person_id"] for i in again["items"]] == [items[0]["person_id"], items[2]["person_id"]]


def test_ndjson_bodies_are_read_line_by_line(roster):
    client, _ = roster
    body = "\n".join(json.dumps(hr_update(source_id=f"N{n}")) for n in range(3)) + "\n"
    answer = client.post("/api/persons/bulk", content=body.encode(),
                         headers={**HR, "Content-Type": "application/x-ndjson"})
    assert answer.status_code == 200 and answer.json()["summary"] == {"created": 3}


def test_oversized_and_unreadable_bulk_bodies_are_refused_before_anything_is_stored(roster):
    client, _ = roster
    too_many = client.post("/api/persons/bulk", json=[hr_update(source_id=f"X{n}") for n in range(1001)],
                           headers=HR)
    assert too_many.status_code == 413 and too_many.headers["content-type"].startswith("application/problem+json")
    huge = client.post("/api/persons/bulk", content=b"[" + b" " * (5 * 1024 * 1024) + b"]",
                       headers={**HR, "Content-Type": "application/json"})
    assert huge.status_code == 413
    assert client.post("/api/persons/bulk", json={"source": "hr"}, headers=HR).status_code == 400
    assert client.post("/api/persons/bulk", content=b"[{", headers=HR).status_code == 400
    assert client.get("/api/persons", params={"source": "hr", "source_id": "X0"}, headers=HR).json()["items"] == []
    reader = client.post("/api/persons/bulk", json=[], headers={"Authorization": "Bearer reader-key"})
    assert reader.status_code == 403


def test_a_dry_run_names_joiners_leavers_groups_and_orders_and_writes_nothing(roster):
    client, host = roster
    finance_wiki(client, host)
    staying = hr_update(source_id="E1")
    staying["affiliations"][0]["end"] = "2031-06-30"
    assert client.post("/api/persons/bulk", json=[staying], headers=HR).json()["summary"] == {"created": 1}
    host.drain(timeout=20)
    leaving = hr_update(source_id="E1", as_of="2026-11-02T08:00:00+00:00")
    leaving["affiliations"][0]["end"] = "2026-01-31"
    joining = hr_update(source_id="E9")
    joining["affiliations"][0]["end"] = None
    preview = client.post("/api/persons/bulk", params={"dry_run": "true"}, json=[leaving, joining], headers=HR)
    assert preview.status_code == 200 and preview.json()["dry_run"] is True
    leaver, joiner = preview.json()["items"]
    assert (leaver["outcome"], leaver["lifecycle"], leaver["groups"]) == (
        "updated", "leaver", {"gained": [], "lost": ["fin"]})
    assert leaver["orders"] == {"wiki": {"disable_account": 1}}
    assert (joiner["outcome"], joiner["lifecycle"], joiner["groups"]) == (
        "created", "joiner", {"gained": ["fin"], "lost": []})
    assert joiner["orders"] == {"wiki": {"create_account": 1}}
    assert client.get("/api/persons", params={"source": "hr", "source_id": "E9"}, headers=HR).json()["items"] == []
    person = client.get(f"/api/persons/{leaver['person_id']}", headers=HR).json()
    assert person["affiliations"][0]["end"] == "2031-06-30"
    bad_flag = client.post("/api/persons/bulk", params={"dry_run": "maybe"}, json=[], headers=HR)
    assert bad_flag.status_code == 422 and bad_flag.json()["errors"][0]["field"] == "dry_run"
