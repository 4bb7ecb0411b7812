"""RosterStorage under the SCIM service, called framework-free on the SQLite store: crash
safety (fault injection between the person write and the record write), userName claims,
and a person the client never wrote."""

from __future__ import annotations

import json

import pytest
from scim2_server.requests import ScimRequest

from shared.models.person import PersonUpdate
from shared.services.registration import register
from shared.services.scim import service
from shared.store.persons import PersonRepository
from shared.store.scim import RecordRepository

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
CALLER = "apikey:feedc0de"
SOURCE = "scim-apikey-feedc0de"
WRITER = frozenset({"Persons.Write"})


def call(rt, method: str, path: str, body: dict | None = None, **headers: str):
    request = ScimRequest(method=method, base_url="http://roster.test/api/scim/v2", path=path,
                          headers={"Content-Type": "application/scim+json", **headers},
                          body=json.dumps(body).encode() if body is not None else b"", subject=WRITER)
    return service.handle(rt, request, CALLER)


def user(name: str, **more) -> dict:
    return {"schemas": [CORE], "userName": name, "name": {"givenName": "Ada", "familyName": "Byron"}, **more}


def test_a_crash_after_the_person_write_is_finished_by_the_retry_without_a_duplicate(rt, monkeypatch):
    original = RecordRepository.put

    def crash(self, source, record):
        raise RuntimeError("the process died here")

    monkeypatch.setattr(RecordRepository, "put", crash)
    with pytest.raises(RuntimeError):
        call(rt, "POST", "/Users", user("crash@uni.example"))
    monkeypatch.setattr(RecordRepository, "put", original)
    people = list(PersonRepository(rt.store).all_ids())
    assert len(people) == 1  # the person was written, the record was not

    retried = call(rt, "POST", "/Users", user("crash@uni.example"))
    assert retried.status == 201
    assert retried.body["id"] == people[0]
    assert list(PersonRepository(rt.store).all_ids()) == people


def test_a_client_taking_over_a_person_it_never_wrote_claims_the_username(rt):
    hr = PersonUpdate.model_validate({
        "source": "hr", "source_id": "H1", "as_of": "2026-11-01T08:00:00+00:00",
        "names": {"given": "Hedy", "family": "Lamarr"}, "emails": [{"address": "hedy@uni.example"}],
        "affiliations": [{"key": "j", "type": "staff", "organization": "LAB", "start": "2020-01-01"}]})
    person = register(rt, hr, "test").person
    found = call(rt, "GET", "/Users", None)
    assert [r["id"] for r in found.body["Resources"]] == [person.id]
    request_filter = ScimRequest(method="GET", base_url="http://roster.test/api/scim/v2", path="/Users",
                                 query={"filter": 'userName eq "HEDY@uni.example"'}, subject=WRITER)
    by_name = service.handle(rt, request_filter, CALLER)
    assert [r["id"] for r in by_name.body["Resources"]] == [person.id]  # through the email index
    shown = call(rt, "GET", f"/Users/{person.id}")
    assert shown.body["userName"] == "hedy@uni.example" and shown.headers["ETag"] == f'W/"p{person.version}"'
    replaced = call(rt, "PUT", f"/Users/{person.id}", user("hedy@uni.example", displayName="Hedy L."),
                    **{"If-Match": shown.headers["ETag"]})
    assert replaced.status == 200
    stored = PersonRepository(rt.store).get(person.id).person
    assert {i.source for i in stored.identifiers} == {"hr", SOURCE}
    assert {a.source for a in stored.affiliations} == {"hr", SOURCE}
    assert call(rt, "POST", "/Users", user("HEDY@uni.example")).status == 409


def test_renaming_frees_the_old_username(rt):
    created = call(rt, "POST", "/Users", user("old@uni.example")).body
    renamed = call(rt, "PUT", f"/Users/{created['id']}", user("new@uni.example"))
    assert renamed.status == 200 and renamed.body["userName"] == "new@uni.example"
    other = call(rt, "POST", "/Users", user("old@uni.example"))
    assert other.status == 201 and other.body["id"] != created["id"]
    assert call(rt, "POST", "/Users", user("new@uni.example")).status == 409


def test_a_concurrent_write_of_the_record_is_a_409_not_a_500(rt, monkeypatch):
    from shared.store.port import ETagMismatch

    created = call(rt, "POST", "/Users", user("race@uni.example")).body

    def lost(self, source, record):
        raise ETagMismatch("someone else wrote first")

    monkeypatch.setattr(RecordRepository, "put", lost)
    answer = call(rt, "PUT", f"/Users/{created['id']}", user("race@uni.example", displayName="x"))
    assert answer.status == 409
    assert answer.body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
