"""The request desk's HTTP functions, called as the Functions host calls them."""

from __future__ import annotations

import json
import threading

import pytest

from shared.models.person import PersonUpdate
from shared.models.request import MAX_ACCOUNTS
from shared.services.registration import register
from shared.store.persons import PersonRepository
from shared.store.requests import RequestRepository
from tests.factories import hr_update
from tests.helpers.app import http, payload
from tests.helpers.desk import form


def post(functions, body, key="flow-key", raw=None):
    return functions["requests_submit"](http("POST", "requests", key=key, body=body, raw=raw))


def call(functions, name, method, path, key="desk-key", body=None, params=None, **route):
    return functions[name](http(method, path, key=key, body=body, params=params, route=route))


def accounts(n: int) -> list[dict]:
    return [{"email": f"user{i}@example.edu", "name": f"User {i}"} for i in range(n)]


def test_the_flow_submits_and_a_retry_gets_the_same_receipt(functions, rt, wiki):
    created = post(functions, form())
    assert created.status_code == 201
    receipt = payload(created)
    assert receipt["number"] == "REQ-000001" and receipt["state"] == "New"
    assert receipt["link"] == "https://roster.example.edu/api/console/requests/REQ-000001"
    assert receipt["form_response_id"] == "F-1001"

    retried = post(functions, form())
    assert retried.status_code == 200 and payload(retried) == receipt


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (form(requester={"name": "Grace Hopper"}), "requester.email"),
        (form(requester={"email": "", "name": "Grace Hopper"}), "requester.email"),
        (form(requester={"email": "grace.hopper", "name": "Grace Hopper"}), "requester.email"),
        (form(requester={"email": "grace@hopper@example.edu", "name": "Grace"}), "requester.email"),
        (form(requester={"email": "grace.hopper@example.edu\r\nBcc: all@example.edu", "name": "G"}), "requester.email"),
        (form(accounts=[{"email": "alan turing@example.edu", "name": "Alan Turing"}]), "accounts[0].email"),
        (form(accounts=[{"email": "alan@", "name": "Alan Turing"}]), "accounts[0].email"),
        (form(requester={"email": "grace.hopper@example.edu", "name": "Grace\r\nBcc: all@example.edu"}), "requester.name"),
        (form(requester={"email": "grace.hopper@example.edu", "name": "Grace\nHopper"}), "requester.name"),
        (form(accounts=[{"email": "alan@example.edu", "name": "Alan\r\nTuring"}]), "accounts[0].name"),
        (form(accounts=accounts(200)), "accounts"),
        (form(accounts=accounts(MAX_ACCOUNTS + 1)), "accounts"),
        (form(service="Not A Service!"), "service"),
        (form(category="upgrade"), "category"),
        (form(accounts=[{"email": "a@example.edu", "name": "A", "action": "promote"}]), "accounts[0].action"),
        (form(submitted_at="2026-11-02T08:55:00"), "submitted_at"),
        (form(form_response_id=""), "form_response_id"),
        (form(version=2), "version"),
        (form(requestor={"email": "x@example.edu", "name": "X"}), "requestor"),
        (form(details="x" * 8001), "details"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_takes_no_number(functions, rt, wiki, body, field):
    response = post(functions, body)
    assert response.status_code == 422, payload(response)
    problem = payload(response)
    assert response.mimetype == "application/problem+json"
    assert field in [e["field"] for e in problem["errors"]]
    assert RequestRepository(rt.store).last_number() == 0
    assert rt.bus.active_count("notification") == 0


def test_an_unknown_service_is_a_422_naming_service(functions, rt, wiki):
    response = post(functions, form(service="payroll"))
    assert response.status_code == 422
    assert payload(response)["errors"] == [{"field": "service", "message": "not a known service (target id)"}]
    assert RequestRepository(rt.store).last_number() == 0


def test_the_account_limit_itself_is_accepted(functions, rt, wiki):
    response = post(functions, form(accounts=accounts(MAX_ACCOUNTS)))
    assert response.status_code == 201


def test_the_same_form_response_id_twice_at_the_same_moment_is_one_request(functions, rt, wiki):
    statuses, barrier = [], threading.Barrier(2)

    def send() -> None:
        barrier.wait()
        response = post(functions, form())
        statuses.append((response.status_code, payload(response)["number"]))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [(200, "REQ-000001"), (201, "REQ-000001")]
    assert RequestRepository(rt.store).last_number() == 1


def test_a_suspended_requester_is_a_403_with_the_reason(functions, rt, wiki):
    update = PersonUpdate.model_validate(
        hr_update(emails=[{"address": "grace.hopper@example.edu", "type": "work"}])
    )
    person = register(rt, update, "hr").person
    from tests.requests.test_intake import suspend

    suspend(rt, person.id)
    response = post(functions, form())
    assert response.status_code == 403
    problem = payload(response)
    assert problem["type"] == "urn:roster:problem:requester-not-eligible"
    assert "suspend" in problem["detail"]
    assert any(r["action"] == "request.refused" for r in PersonRepository(rt.store).trail(person.id))


def test_roles_submit_is_for_the_flow_everything_else_for_the_desk(functions, rt, wiki):
    assert post(functions, form(), key=None).status_code == 401
    assert post(functions, form(), key="desk-key").status_code == 403
    assert post(functions, form()).status_code == 201
    assert call(functions, "requests_list", "GET", "requests", key="flow-key").status_code == 403
    assert call(functions, "requests_get", "GET", "requests/REQ-000001", key="flow-key", number="REQ-000001").status_code == 403
    assert call(functions, "requests_change", "PATCH", "requests/REQ-000001", key="flow-key",
                body={"state": "InPlanning"}, number="REQ-000001").status_code == 403  # fmt: skip
    assert call(functions, "requests_get", "GET", "requests/REQ-000001", number="REQ-000001").status_code == 200


def test_the_desk_triages_over_http(functions, rt, wiki):
    post(functions, form())
    changed = call(functions, "requests_change", "PATCH", "requests/REQ-000001",
                   body={"state": "InPlanning", "owner": "margaret.hamilton@example.edu"}, number="REQ-000001")  # fmt: skip
    assert changed.status_code == 200
    view = payload(changed)
    assert view["state"] == "InPlanning" and view["owner"] == "margaret.hamilton@example.edu"
    assert view["link"].endswith("/api/console/requests/REQ-000001")

    refused = call(functions, "requests_change", "PATCH", "requests/REQ-000001", body={"state": "Closed"},
                   number="REQ-000001")  # fmt: skip
    assert refused.status_code == 409
    assert payload(refused)["type"] == "urn:roster:problem:invalid-transition"
    assert "InPlanning to Closed" in payload(refused)["detail"]

    comment = call(functions, "requests_comment", "POST", "requests/REQ-000001/comments",
                   body={"text": "@grace.hopper@example.edu which project?"}, number="REQ-000001")  # fmt: skip
    assert comment.status_code == 201 and payload(comment)["mentions"] == ["grace.hopper@example.edu"]
    assert payload(comment)["author"].startswith("apikey:")

    task = call(functions, "requests_task_create", "POST", "requests/REQ-000001/tasks",
                body={"title": "Invite them", "assignee": "linus@example.edu"}, number="REQ-000001")  # fmt: skip
    assert task.status_code == 201
    task_id = payload(task)["id"]
    reassigned = call(functions, "requests_task_change", "PATCH", f"requests/REQ-000001/tasks/{task_id}",
                      body={"assignee": "ada@example.edu"}, number="REQ-000001", id=task_id)  # fmt: skip
    assert payload(reassigned)["assignee"] == "ada@example.edu"
    done = call(functions, "requests_task_complete", "POST", f"requests/REQ-000001/tasks/{task_id}/complete",
                number="REQ-000001", id=task_id)  # fmt: skip
    assert done.status_code == 200 and payload(done)["state"] == "Completed"

    listed = payload(call(functions, "requests_list", "GET", "requests", params={"state": "InPlanning"}))
    assert [r["number"] for r in listed["items"]] == ["REQ-000001"] and listed["next"] is None
    bad = call(functions, "requests_list", "GET", "requests", params={"state": "Open"})
    assert bad.status_code == 422 and payload(bad)["errors"][0]["field"] == "state"


def test_an_unknown_request_is_a_404(functions, rt):
    for number in ("REQ-000404", "x' or 1=1"):
        response = call(functions, "requests_get", "GET", f"requests/{number}", number=number)
        assert response.status_code == 404 and payload(response)["status"] == 404


# -- OpenAPI 2.0 for the custom connector -------------------------------------------------


def walk(node, path="$"):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


def test_openapi_2_describes_the_submission_for_a_power_automate_custom_connector(functions, rt):
    response = call(functions, "requests_openapi_v2", "GET", "openapi-v2.json", key="flow-key",
                    params={"role": "Requests.Submit"})  # fmt: skip
    assert response.status_code == 200
    doc = payload(response)
    assert doc["swagger"] == "2.0" and doc["basePath"] == "/api"
    assert doc["host"] == "roster.example.edu" and doc["schemes"] == ["https"]
    assert list(doc["paths"]) == ["/requests"] and list(doc["paths"]["/requests"]) == ["post"]
    operation = doc["paths"]["/requests"]["post"]
    assert operation["operationId"] == "RequestsSubmit"
    [body] = operation["parameters"]
    assert body == {"name": "body", "in": "body", "required": True, "schema": {"$ref": "#/definitions/RequestSubmission"}}
    submission = doc["definitions"]["RequestSubmission"]
    assert submission["required"] == ["form_response_id", "submitted_at", "requester", "service", "category"]
    assert submission["properties"]["accounts"]["maxItems"] == MAX_ACCOUNTS
    assert submission["properties"]["version"]["enum"] == [1]
    assert doc["definitions"]["Requester"]["properties"]["email"]["format"] == "email"
    assert operation["responses"]["201"]["schema"] == {"$ref": "#/definitions/Receipt"}


def test_openapi_2_holds_nothing_swagger_2_lacks_and_every_reference_resolves(functions, rt):
    doc = payload(call(functions, "requests_openapi_v2", "GET", "openapi-v2.json", key="reader-key"))
    assert "/requests/{number}/tasks/{id}/complete" in doc["paths"] and "/persons" in doc["paths"]
    forbidden = {"anyOf", "oneOf", "const", "$defs", "prefixItems", "nullable"}
    for path, node in walk(doc):
        assert not forbidden & set(node), path
        if "type" in node and path.split(".")[-1] != "properties" and not isinstance(node["type"], str):
            pytest.fail(f"{path}: type must be one string in Swagger 2.0")
        if "$ref" in node:
            assert set(node) == {"$ref"}, path
            assert node["$ref"].removeprefix("#/definitions/") in doc["definitions"], path
        if node.get("in") in ("path", "query"):
            assert node["type"] == "string" and "schema" not in node, path
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) and all(i.isalnum() for i in ids)
    json.dumps(doc)
