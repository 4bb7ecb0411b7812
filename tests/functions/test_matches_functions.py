"""Matching, pending-match, merge and split routes, called as the Functions host calls
them: every bad input is a 4xx problem naming the field, and nothing is written."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

from shared.store.persons import PersonRepository
from tests.factories import hr_update


@pytest.fixture
def extra_settings() -> dict[str, str]:
    return {"ROSTER_NATIONAL_ID_KEY": "route-test-key"}


def call(functions, name: str, method: str, path: str, body=None, key: str = "hr-key", route=None):
    req = func.HttpRequest(method, f"http://localhost/api/{path}", body=b"" if body is None else json.dumps(body).encode(),
                           headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
                           route_params=route or {}, params={})
    response = functions[name](req)
    return response.status_code, json.loads(response.get_body() or b"null")


def problem_fields(body: dict) -> list[str]:
    return [e["field"] for e in body.get("errors", [])]


def register(functions, body: dict) -> tuple[int, dict]:
    return call(functions, "persons_register", "POST", "persons", body)


@pytest.fixture
def ada(functions, rt) -> str:
    status, body = register(functions, hr_update(birth_date="1815-12-10", national_id="AB-123-456"))
    assert status == 201
    return body["person"]["id"]


def sis(**over) -> dict:
    return {"source": "sis", "source_id": "S-1", "as_of": "2026-11-02T08:00:00+00:00", "birth_date": "1815-12-10",
            "names": {"given": "Ada", "family": "Lovelace"}, "national_id": "ab123456", **over}


@pytest.mark.parametrize(("body", "field"), [
    ({"given": "Ada"}, "family"),                                              # nothing to block on
    ({"family": "Lovelace", "national_id": "12;34"}, "national_id"),           # malformed
    ({"family": "Lovelace", "birth_date": "1815-12-10", "address": {"flat": "3"}}, "address.flat"),
])
def test_a_bad_match_query_is_a_422_naming_the_field(functions, rt, body, field):
    status, problem = call(functions, "persons_match", "POST", "persons/match", body)
    assert status == 422 and field in problem_fields(problem), problem


def test_the_match_route_explains_each_candidate(functions, ada):
    status, body = call(functions, "persons_match", "POST", "persons/match",
                        {"given": "Ada", "family": "Lovelace", "birth_date": "1815-12-10", "national_id": "AB123456"})
    assert status == 200 and body["outcome"] == "exact"
    best = body["candidates"][0]
    assert best["person_id"] == ada
    assert {f["field"]: f["level"] for f in best["fields"]}["national_id"] == "agree"


def test_the_national_id_is_never_returned_in_clear(functions, ada):
    status, person = call(functions, "persons_get", "GET", f"persons/{ada}", route={"id": ada}, key="reader-key")
    assert status == 200 and "national_id" not in person and len(person["national_id_hash"]) == 64
    assert "123456" not in json.dumps(person)


def test_a_malformed_national_id_in_an_update_is_a_422_and_stores_nothing(functions, rt):
    status, problem = register(functions, hr_update(national_id="--"))
    assert status == 422 and problem_fields(problem) == ["national_id"]
    assert PersonRepository(rt.store).owner_of("hr", "E1001") is None


def test_an_address_with_unknown_fields_is_refused(functions, rt):
    status, problem = register(functions, hr_update(address={"street": "1 Main St", "flat": "3"}))
    assert status == 422 and problem_fields(problem) == ["address.flat"]


def test_a_held_record_is_listed_resolved_once_and_then_conflicts(functions, ada):
    status, held = register(functions, sis())
    assert status == 202 and held["outcome"] == "held" and held["person"] is None
    match_id = held["pending_match"]["id"]
    status, listed = call(functions, "matches_list", "GET", "matches", key="reader-key")
    assert [m["id"] for m in listed["items"]] == [match_id]
    assert "national_id" not in listed["items"][0]["update"]

    status, _ = call(functions, "matches_resolve", "POST", f"matches/{match_id}/resolve",
                     {"decision": "link", "person_id": ada}, key="reader-key", route={"id": match_id})
    assert status == 403
    status, resolved = call(functions, "matches_resolve", "POST", f"matches/{match_id}/resolve",
                            {"decision": "link", "person_id": ada}, route={"id": match_id})
    assert status == 200 and resolved["match"]["state"] == "linked" and resolved["person"]["id"] == ada
    status, again = call(functions, "matches_resolve", "POST", f"matches/{match_id}/resolve",
                         {"decision": "create"}, route={"id": match_id})
    assert status == 409


def test_resolving_an_unknown_match_is_a_404(functions, rt):
    status, _ = call(functions, "matches_resolve", "POST", "matches/pm-x/resolve", {"decision": "create"},
                     route={"id": "pm-x"})
    assert status == 404


def test_merging_a_person_with_itself_is_a_422_naming_other(functions, ada):
    status, problem = call(functions, "persons_merge", "POST", f"persons/{ada}/merge",
                           {"other": ada, "reason": "oops"}, route={"id": ada})
    assert status == 422 and problem_fields(problem) == ["other"]


def test_splitting_a_person_never_merged_is_a_409(functions, ada):
    status, problem = call(functions, "persons_split", "POST", f"persons/{ada}/split", {"reason": "why"},
                           route={"id": ada})
    assert status == 409 and "never merged" in problem["detail"]
