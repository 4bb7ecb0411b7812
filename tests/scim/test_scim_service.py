"""The SCIM 2.0 service at /api/scim/v2 over devhost: Users, filters, paging, ETags, PATCH,
/Bulk (bulkId references, failOnErrors, limits), read-only Groups, roles, and the bad
inputs of issue #16 — each answered in SCIM's error schema."""

from __future__ import annotations

import pytest

from tests.scim.support import auth, devhost, send

ROOT = "/api/scim/v2"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.fixture(scope="module")
def roster(tmp_path_factory):
    with devhost(tmp_path_factory.mktemp("scim")) as pair:
        yield pair


def user(name: str, given: str = "Ada", family: str = "Lovelace", **more) -> dict:
    return {"schemas": [CORE], "userName": name, "name": {"givenName": given, "familyName": family},
            "emails": [{"value": name, "type": "work", "primary": True}], "active": True, **more}


def create(client, body: dict, key: str = "hr-key") -> dict:
    answer = send(client, "POST", f"{ROOT}/Users", key, body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def patch(*operations: dict) -> dict:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def scim_error(answer, status: int, scim_type: str | None = None) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/scim+json")
    body = answer.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    assert body.get("scimType") == scim_type
    return body


def names(answer) -> list[str]:
    return sorted(r["userName"] for r in answer.json()["Resources"])


# -- Users -------------------------------------------------------------------


def test_a_created_user_is_a_roster_person_of_the_callers_source(roster):
    client, _ = roster
    created = create(client, user("grace@uni.example", "Grace", "Hopper", title="Admiral",
                                  **{"schemas": [CORE, ENTERPRISE], ENTERPRISE: {"department": "NAVY"}}))
    person = client.get(f"/api/persons/{created['id']}", headers=auth("reader-key", None)).json()
    [identifier] = person["identifiers"]
    assert identifier["source"].startswith("scim-apikey-")
    assert person["names"]["family"] == "Hopper"
    [job] = person["affiliations"]
    assert (job["source"], job["organization"], job["title"], job["end"]) == (
        identifier["source"], "NAVY", "Admiral", None)
    read = send(client, "GET", f"{ROOT}/Users/{created['id']}")
    assert read.status_code == 200 and read.json()["title"] == "Admiral"
    assert read.headers["ETag"] == created["meta"]["version"]


def test_a_taken_username_is_a_uniqueness_conflict_whatever_its_case(roster):
    client, _ = roster
    create(client, user("unique@uni.example"))
    scim_error(send(client, "POST", f"{ROOT}/Users", body=user("UNIQUE@uni.example")), 409, "uniqueness")


def test_patch_answers_200_with_the_resource_and_a_new_version(roster):
    client, _ = roster
    created = create(client, user("patchme@uni.example"))
    answer = send(client, "PATCH", f"{ROOT}/Users/{created['id']}",
                  body=patch({"op": "replace", "path": "displayName", "value": "Countess"}))
    assert answer.status_code == 200
    assert answer.json()["displayName"] == "Countess"
    assert answer.headers["ETag"] != created["meta"]["version"]


def test_a_persons_never_written_by_the_client_is_shown_as_roster_knows_it(roster):
    client, _ = roster
    hr = {"source": "hr", "source_id": "H-1", "as_of": "2026-11-01T08:00:00+00:00",
          "names": {"given": "Hedy", "family": "Lamarr"}, "emails": [{"address": "hedy@uni.example"}],
          "affiliations": [{"key": "j", "type": "staff", "organization": "LAB", "start": "2020-01-01"}]}
    person = client.post("/api/persons", json=hr, headers=auth("hr-key", "application/json")).json()["person"]
    shown = send(client, "GET", f"{ROOT}/Users/{person['id']}").json()
    assert (shown["userName"], shown["name"]["familyName"], shown["active"]) == ("hedy@uni.example", "Lamarr", True)


def test_delete_ends_the_clients_affiliation_and_the_user_is_gone_for_it(roster):
    client, _ = roster
    created = create(client, user("leaving@uni.example"))
    assert send(client, "DELETE", f"{ROOT}/Users/{created['id']}").status_code == 204
    scim_error(send(client, "GET", f"{ROOT}/Users/{created['id']}"), 404)
    person = client.get(f"/api/persons/{created['id']}", headers=auth("reader-key", None)).json()
    assert person["affiliations"][0]["end"] is not None
    again = create(client, user("leaving@uni.example"))
    assert again["id"] == created["id"]  # a re-hire comes back to the same person
    person = client.get(f"/api/persons/{created['id']}", headers=auth("reader-key", None)).json()
    assert person["affiliations"][0]["end"] is None


# -- filters and paging --------------------------------------------------------


@pytest.fixture(scope="module")
def people(roster):
    client, _ = roster
    for name, given, family, external in [
        ("fa@filter.example", "Fanny", "Adams", "F-1"), ("fb@filter.example", "Fred", "Bloggs", "F-2"),
        ("jd@filter.example", "John", "Doe", None), ("js@filter.example", "Jane", "Smith", "F-4"),
    ]:
        create(client, user(name, given, family, **({"externalId": external} if external else {})))
    return client


@pytest.mark.parametrize(("expression", "expected"), [
    ('userName eq "FA@filter.example"', ["fa@filter.example"]),
    ('externalId eq "F-2"', ["fb@filter.example"]),
    ('userName sw "j" and userName co "filter"', ["jd@filter.example", "js@filter.example"]),
    ('name.familyName eq "Doe" or name.givenName eq "Fanny"', ["fa@filter.example", "jd@filter.example"]),
    ('emails.value co "@filter.example" and not (externalId pr)', ["jd@filter.example"]),
    ('emails[type eq "work" and value sw "js"]', ["js@filter.example"]),
    ('userName co "filter.example" and externalId ne "F-1" and externalId pr', ["fb@filter.example",
                                                                                  "js@filter.example"]),
], ids=["eq-case-insensitive", "externalId", "sw-and-co", "name-or", "pr-not", "value-path", "ne"])
def test_filters_find_the_right_users(people, expression, expected):
    assert names(people.get(f"{ROOT}/Users", params={"filter": expression}, headers=auth("hr-key"))) == expected


def test_external_id_is_the_writing_clients_own(people):
    """externalId is "defined by the provisioning client" (RFC 7643 §3.1): another client
    sees the person as Roster knows it, without it."""
    found = people.get(f"{ROOT}/Users", params={"filter": 'userName eq "fb@filter.example"'},
                       headers=auth("reader-key")).json()["Resources"]
    assert [r.get("externalId") for r in found] == [None]


def test_paging_with_start_index_and_count(people):
    pages = [people.get(f"{ROOT}/Users", headers=auth("reader-key"), params={
        "filter": 'userName co "@filter.example"', "sortBy": "userName", "startIndex": start, "count": 2}).json()
        for start in (1, 3, 5)]
    assert [p["totalResults"] for p in pages] == [4, 4, 4]
    assert [[r["userName"] for r in p.get("Resources", [])] for p in pages] == [
        ["fa@filter.example", "fb@filter.example"], ["jd@filter.example", "js@filter.example"], []]


@pytest.mark.parametrize("expression", ['userName eq', 'userName zz "a"', '(userName eq "a"'],
                         ids=["no-value", "unknown-operator", "unbalanced"])
def test_a_malformed_filter_is_400_invalid_filter(roster, expression):
    client, _ = roster
    scim_error(client.get(f"{ROOT}/Users", params={"filter": expression}, headers=auth("reader-key")),
               400, "invalidFilter")


def test_a_filter_on_an_unknown_attribute_is_400_invalid_filter(roster):
    client, _ = roster
    scim_error(client.get(f"{ROOT}/Users", params={"filter": 'shoeSize eq "42"'}, headers=auth("reader-key")),
               400, "invalidFilter")


# -- PATCH and ETags -------------------------------------------------------------


def test_a_patch_path_that_does_not_exist_is_400_no_target(roster):
    client, _ = roster
    created = create(client, user("notarget@uni.example"))
    answer = send(client, "PATCH", f"{ROOT}/Users/{created['id']}",
                  body=patch({"op": "replace", "path": "shoeSize", "value": 42}))
    scim_error(answer, 400, "noTarget")
    malformed = send(client, "PATCH", f"{ROOT}/Users/{created['id']}",
                     body=patch({"op": "replace", "path": "name givenName", "value": "x"}))
    scim_error(malformed, 400, "invalidPath")


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_a_stale_if_match_is_412_and_changes_nothing(roster, method):
    client, _ = roster
    created = create(client, user(f"etag-{method.lower()}@uni.example"))
    url = f"{ROOT}/Users/{created['id']}"
    fresh = send(client, "PATCH", url, body=patch({"op": "replace", "path": "displayName", "value": "v2"}))
    body = {"PUT": {**user(f"etag-{method.lower()}@uni.example"), "displayName": "v3"},
            "PATCH": patch({"op": "replace", "path": "displayName", "value": "v3"}), "DELETE": None}[method]
    scim_error(send(client, method, url, body=body, If_Match=created["meta"]["version"]), 412)
    assert send(client, "GET", url).json()["displayName"] == "v2"
    current = send(client, method, url, body=body, If_Match=fresh.headers["ETag"])
    assert current.status_code in (200, 204)


def test_if_none_match_with_the_current_version_is_304(roster):
    client, _ = roster
    created = create(client, user("cached@uni.example"))
    url = f"{ROOT}/Users/{created['id']}"
    assert send(client, "GET", url, If_None_Match=created["meta"]["version"]).status_code == 304
    assert send(client, "GET", url, If_None_Match='W/"0"').status_code == 200


# -- /Bulk ---------------------------------------------------------------------


def bulk(*operations: dict, fail_on_errors: int | None = None) -> dict:
    body = {"schemas": [BULK], "Operations": list(operations)}
    if fail_on_errors is not None:
        body["failOnErrors"] = fail_on_errors
    return body


def test_bulk_resolves_bulk_id_references_in_paths(roster):
    client, _ = roster
    answer = send(client, "POST", f"{ROOT}/Bulk", body=bulk(
        {"method": "PATCH", "path": "/Users/bulkId:kim", "data": patch(
            {"op": "replace", "path": "displayName", "value": "Kim K."})},
        {"method": "POST", "path": "/Users", "bulkId": "kim", "data": user("kim@bulk.example", "Kim", "Kay")},
    ))
    assert answer.status_code == 200
    first, second = answer.json()["Operations"]
    assert (first["status"], second["status"]) == ("200", "201")
    user_id = second["location"].rsplit("/", 1)[1]
    assert first["location"].endswith(f"/Users/{user_id}")
    assert send(client, "GET", f"{ROOT}/Users/{user_id}").json()["displayName"] == "Kim K."


def test_a_circular_bulk_id_reference_fails_with_409(roster):
    client, _ = roster
    answer = send(client, "POST", f"{ROOT}/Bulk", body=bulk(
        {"method": "POST", "path": "/Users", "bulkId": "a",
         "data": user("a@cycle.example", externalId="bulkId:b")},
        {"method": "POST", "path": "/Users", "bulkId": "b",
         "data": user("b@cycle.example", externalId="bulkId:a")},
    ))
    assert answer.status_code == 200
    operations = answer.json()["Operations"]
    assert [op["status"] for op in operations] == ["409", "409"]
    assert any("circular" in op["response"]["detail"] for op in operations)
    found = client.get(f"{ROOT}/Users", params={"filter": 'userName ew "@cycle.example"'}, headers=auth("hr-key"))
    assert found.json()["totalResults"] == 0


def test_fail_on_errors_stops_the_bulk_after_that_many_errors(roster):
    client, _ = roster
    create(client, user("dupe@bulk.example"))
    answer = send(client, "POST", f"{ROOT}/Bulk", body=bulk(
        {"method": "POST", "path": "/Users", "bulkId": "1", "data": user("dupe@bulk.example")},
        {"method": "POST", "path": "/Users", "bulkId": "2", "data": user("never@bulk.example")},
        fail_on_errors=1,
    ))
    assert [op["status"] for op in answer.json()["Operations"]] == ["409"]
    found = client.get(f"{ROOT}/Users", params={"filter": 'userName eq "never@bulk.example"'},
                       headers=auth("reader-key"))
    assert found.json()["totalResults"] == 0


def test_a_bulk_body_over_max_payload_size_is_413(roster):
    client, _ = roster
    config = send(client, "GET", f"{ROOT}/ServiceProviderConfig").json()["bulk"]
    padding = "x" * (config["maxPayloadSize"] + 1)
    answer = send(client, "POST", f"{ROOT}/Bulk", body=bulk(
        {"method": "POST", "path": "/Users", "bulkId": "big", "data": user("big@bulk.example", nickName=padding)}))
    scim_error(answer, 413)
    found = client.get(f"{ROOT}/Users", params={"filter": 'userName eq "big@bulk.example"'},
                       headers=auth("reader-key"))
    assert found.json()["totalResults"] == 0


def test_more_operations_than_max_operations_is_413(roster):
    client, _ = roster
    limit = send(client, "GET", f"{ROOT}/ServiceProviderConfig").json()["bulk"]["maxOperations"]
    operations = [{"method": "DELETE", "path": f"/Users/none-{i}"} for i in range(limit + 1)]
    scim_error(send(client, "POST", f"{ROOT}/Bulk", body=bulk(*operations)), 413)


# -- Groups, roles, discovery -----------------------------------------------------


def test_groups_are_roster_groups_with_members_and_read_only(roster):
    client, host = roster
    created = create(client, user("member@groups.example"))
    client.post("/api/groups", headers=auth("groups-key", "application/json"),
                json={"id": "lab", "name": "Lab", "kind": "static"})
    client.post("/api/groups/lab/members", headers=auth("groups-key", "application/json"),
                json={"person_id": created["id"], "reason": "test"})
    host.drain(timeout=20)
    group = send(client, "GET", f"{ROOT}/Groups/lab").json()
    assert group["displayName"] == "Lab"
    assert [m["value"] for m in group["members"]] == [created["id"]]
    listed = client.get(f"{ROOT}/Groups", params={"filter": 'displayName eq "Lab"'}, headers=auth("reader-key"))
    assert [g["id"] for g in listed.json()["Resources"]] == ["lab"]
    refused = send(client, "POST", f"{ROOT}/Groups", key="admin-key",
                   body={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "x"})
    scim_error(refused, 405)
    scim_error(send(client, "DELETE", f"{ROOT}/Groups/lab", key="admin-key"), 405)


def test_reads_need_persons_read_and_writes_persons_write(roster):
    client, _ = roster
    assert send(client, "GET", f"{ROOT}/Users", key="reader-key").status_code == 200
    scim_error(send(client, "POST", f"{ROOT}/Users", key="reader-key", body=user("no@roles.example")), 403)
    unauthenticated = client.get(f"{ROOT}/Users")
    scim_error(unauthenticated, 401)
    assert unauthenticated.headers["WWW-Authenticate"].startswith("Bearer")
    scim_error(send(client, "GET", f"{ROOT}/Users", key="unknown-key"), 401)


def test_discovery_describes_what_roster_serves(roster):
    client, _ = roster
    config = send(client, "GET", f"{ROOT}/ServiceProviderConfig").json()
    assert (config["patch"]["supported"], config["etag"]["supported"], config["bulk"]["supported"]) == (
        True, True, True)
    assert config["changePassword"]["supported"] is False
    types = {t["id"] for t in send(client, "GET", f"{ROOT}/ResourceTypes").json()["Resources"]}
    assert types == {"User", "Group"}
    schemas = {s["id"] for s in send(client, "GET", f"{ROOT}/Schemas").json()["Resources"]}
    assert {CORE, ENTERPRISE} <= schemas


def test_a_password_is_never_stored(roster):
    client, _ = roster
    created = create(client, user("secret@uni.example", password="hunter2-Secret"))
    assert "password" not in created
    assert "hunter2" not in send(client, "GET", f"{ROOT}/Users/{created['id']}").text


def test_openapi_describes_the_new_routes_and_scim_errors(roster):
    client, _ = roster
    description = client.get("/api/openapi.json", headers=auth("reader-key", None)).json()
    paths = description["paths"]
    assert {"/api/servicePrincipals/{source}/synchronization/jobs/{job}/bulkUpload",
            "/api/provisioningLogs/{upload}", "/api/sources/{source}/mapping", "/api/scim/v2/{path}"} <= set(paths)
    scim_412 = paths["/api/scim/v2/{path}"]["patch"]["responses"]["412"]["content"]
    assert scim_412 == {"application/scim+json": {"schema": {"$ref": "#/components/schemas/ScimError"}}}
    bulk_429 = paths["/api/servicePrincipals/{source}/synchronization/jobs/{job}/bulkUpload"]["post"]["responses"]
    assert "application/problem+json" in bulk_429["429"]["content"]
