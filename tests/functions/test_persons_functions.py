"""The persons triggers, called as the Functions host calls them."""

from __future__ import annotations

import base64
import json

import pytest

from shared.store.deadletters import DeadLetterRepository
from shared.store.persons import PersonRepository
from tests.factories import hr_update
from tests.functions.conftest import fresh_app_functions, http, message, payload


def post_person(functions, body, key="hr-key", params=None, raw=None):
    return functions["persons_register"](http("POST", "persons", key=key, body=body, raw=raw, params=params))


def test_hr_registers_a_person_synchronously_and_reads_it_back(functions, rt):
    created = post_person(functions, hr_update())
    assert created.status_code == 201
    body = payload(created)
    assert body["outcome"] == "created"
    assert body["groups"] == {"added": [], "removed": []} and body["orders"] == []

    person_id = body["person"]["id"]
    read = functions["persons_get"](http("GET", f"persons/{person_id}", key="reader-key", route={"id": person_id}))
    assert read.status_code == 200
    assert payload(read)["affiliations"][0]["end"] == "2026-11-30"

    again = post_person(functions, hr_update())
    assert again.status_code == 200 and payload(again)["outcome"] == "unchanged"


def test_async_mode_queues_the_update_and_the_queue_trigger_registers_it(functions, rt):
    accepted = post_person(functions, hr_update(), params={"mode": "async"})
    assert accepted.status_code == 202
    message_id = payload(accepted)["message_id"]

    delivery = rt.bus.receive("person-update")
    assert delivery.message_id == message_id and delivery.session_id == "hr:E1001"
    functions["person_update_queue"](message(delivery.body, delivery.message_id, delivery.session_id))
    rt.bus.complete(delivery)

    found = functions["persons_search"](
        http("GET", "persons", key="reader-key", params={"source": "hr", "source_id": "E1001"})
    )
    assert [p["names"]["family"] for p in payload(found)["items"]] == ["Lovelace"]


def test_lookup_by_identifier_and_by_text(functions, rt):
    post_person(functions, hr_update())
    by_text = functions["persons_search"](http("GET", "persons", key="reader-key", params={"q": "love"}))
    assert [p["id"] for p in payload(by_text)["items"]] == [
        PersonRepository(rt.store).owner_of("hr", "E1001")
    ]
    none = functions["persons_search"](
        http("GET", "persons", key="reader-key", params={"source": "hr", "source_id": "nobody"})
    )
    assert payload(none) == {"items": [], "next": None}


def test_an_unknown_person_is_a_404_problem(functions, rt):
    response = functions["persons_get"](http("GET", "persons/nope", key="reader-key", route={"id": "nope"}))
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert payload(response)["status"] == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({k: v for k, v in hr_update().items() if k != "source"}, "source"),
        ({k: v for k, v in hr_update().items() if k != "source_id"}, "source_id"),
        (hr_update(as_of="yesterday"), "as_of"),
        (hr_update(as_of="2026-11-01T08:00:00"), "as_of"),
        (hr_update(birth_date="1815-02-31"), "birth_date"),
        (hr_update(affiliations=[{**hr_update()["affiliations"][0], "start": "01/02/2024"}]), "affiliations[0].start"),
        (hr_update(affiliations=[{**hr_update()["affiliations"][0], "end": "2023-12-31"}]), "affiliations[0].end"),
        (hr_update(affiliations=[{**hr_update()["affiliations"][0], "type": "wizard"}]), "affiliations[0].type"),
        (hr_update(emails=[{"address": "not-an-address"}]), "emails[0].address"),
        (hr_update(end_date="2026-11-30"), "end_date"),
        (hr_update(names={"preferred": "Ada"}), "names"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_stores_nothing(functions, rt, body, field):
    response = post_person(functions, body)
    assert response.status_code == 422, payload(response)
    problem = payload(response)
    assert response.mimetype == "application/problem+json"
    assert problem["type"] == "urn:roster:problem:invalid-input"
    assert field in [e["field"] for e in problem["errors"]]
    assert problem["detail"].startswith(problem["errors"][0]["field"])
    assert PersonRepository(rt.store).owner_of("hr", "E1001") is None
    assert rt.bus.active_count("person-changed") == 0


@pytest.mark.parametrize(("raw", "status"), [(b"{not json", 400), (b"[1, 2]", 400), (b"x" * (5 * 1024 * 1024), 413)])
def test_invalid_json_and_oversize_bodies_are_refused(functions, rt, raw, status):
    response = post_person(functions, None, raw=raw)
    assert response.status_code == status
    assert payload(response)["status"] == status


def test_no_key_is_401_and_a_wrong_role_is_403(functions, rt):
    assert post_person(functions, hr_update(), key=None).status_code == 401
    assert post_person(functions, hr_update(), key="unknown-key").status_code == 401
    forbidden = post_person(functions, hr_update(), key="reader-key")
    assert forbidden.status_code == 403
    assert "Persons.Write" in payload(forbidden)["detail"]
    assert PersonRepository(rt.store).owner_of("hr", "E1001") is None


def test_client_principal_roles_count_only_when_app_service_authentication_is_on(functions, rt, monkeypatch):
    principal = base64.b64encode(json.dumps({
        "auth_typ": "aad", "claims": [{"typ": "roles", "val": "Persons.Write"}, {"typ": "name", "val": "HR feed"}],
    }).encode()).decode()
    req = http("POST", "persons", key=None, body=hr_update(), headers={"x-ms-client-principal": principal})
    assert functions["persons_register"](req).status_code == 401

    import dataclasses
    monkeypatch.setattr(rt, "settings", dataclasses.replace(rt.settings, auth_enabled=True))
    assert functions["persons_register"](req).status_code == 201
    person_id = PersonRepository(rt.store).owner_of("hr", "E1001")
    assert PersonRepository(rt.store).trail(person_id)[0]["actor"] == "entra:HR feed"


@pytest.mark.parametrize(("body", "reason"), [(b"not json at all", "MalformedJson"), (b'{"source": "hr"}', "ValidationFailed")])
def test_a_malformed_queue_message_is_dead_lettered_at_once_with_a_reason(functions, rt, body, reason):
    functions["person_update_queue"](message(body, message_id="bad-1"))  # does not raise: no retry
    parked = list(DeadLetterRepository(rt.store).list("person-update"))
    assert [(p["message_id"], p["reason"], p["delivery_count"]) for p in parked] == [("bad-1", reason, 1)]


def test_health_needs_no_key_but_openapi_does(functions, rt):
    assert functions["ops_health"](http("GET", "health", key=None)).status_code == 200
    assert functions["ops_openapi"](http("GET", "openapi.json", key=None)).status_code == 401


def test_openapi_lists_every_http_function(functions, rt):
    doc = payload(functions["ops_openapi"](http("GET", "openapi.json", key="reader-key")))
    operations = {
        (path, method.upper()): op["operationId"]
        for path, item in doc["paths"].items() for method, op in item.items()
    }
    app_http = {  # a catch-all `{*path}` is `{path}`; a function of several methods has an id per method
        ("/api/" + f.get_trigger().route.replace("{*", "{"), method):
            f.get_function_name() if len(f.get_trigger().methods) == 1 else f"{f.get_function_name()}_{method.lower()}"
        for f in fresh_app_functions() if f.get_trigger().get_binding_name() == "httpTrigger"
        for method in (m.value for m in f.get_trigger().methods)
    }
    assert operations == app_http
    assert "PersonUpdate" in doc["components"]["schemas"]
    assert "404" in doc["paths"]["/api/persons/{id}"]["get"]["responses"]


def test_match_over_http_returns_the_outcome_and_candidates(functions, rt):
    post_person(functions, hr_update())
    response = functions["persons_match"](http("POST", "persons/match", key="reader-key",
                                                body={"emails": ["ada.lovelace@example.edu"], "family": "Lovelace", "given": "Ada"}))
    assert response.status_code == 200
    assert payload(response)["outcome"] == "exact"
    refused = functions["persons_match"](http("POST", "persons/match", key="reader-key", body={"given": "Ada"}))
    assert refused.status_code == 422


def test_deeply_nested_json_is_a_400_not_a_500(functions, rt):
    response = post_person(functions, None, raw=b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 400
    assert "nested" in payload(response)["detail"]


def test_a_queued_update_the_service_refuses_is_dead_lettered_at_once_not_retried(functions, rt):
    body = {k: v for k, v in hr_update().items() if k != "names"}  # valid shape, but a new person needs names
    functions["person_update_queue"](message(json.dumps(body), message_id="no-names"))  # does not raise
    parked = list(DeadLetterRepository(rt.store).list("person-update"))
    assert [(p["message_id"], p["reason"]) for p in parked] == [("no-names", "ValidationFailed")]
    assert "names" in parked[0]["description"]
    assert PersonRepository(rt.store).owner_of("hr", "E1001") is None


def test_a_queued_national_id_the_registry_cannot_hash_is_parked_without_it(functions, rt):
    body = hr_update(national_id="AB 12 34 56")  # no ROSTER_NATIONAL_ID_KEY in these settings
    functions["person_update_queue"](message(json.dumps(body), message_id="nid-1"))
    parked = list(DeadLetterRepository(rt.store).list("person-update"))
    assert [(p["message_id"], p["reason"]) for p in parked] == [("nid-1", "ValidationFailed")]
    assert "AB 12 34 56" not in str(parked[0]) and "[redacted]" in str(parked[0])
