"""Entra-shaped inbound provisioning (`…/synchronization/jobs/{job}/bulkUpload`) over devhost:
per-operation outcomes, the mapping, provisioning logs, the rate, and every bad input."""

from __future__ import annotations

import copy
import json
from urllib.parse import urlsplit

import pytest

from tests.scim import entra
from tests.scim.support import auth, devhost, send

URL = "/api/servicePrincipals/{source}/synchronization/jobs/job-1/bulkUpload"


@pytest.fixture(scope="module")
def roster(tmp_path_factory):
    with devhost(tmp_path_factory.mktemp("bulk"), ROSTER_BULKUPLOAD_RATE="1000/5") as pair:
        yield pair


def upload(client, source: str, body, key: str = "hr-key", **headers):
    return send(client, "POST", URL.format(source=source), key, body, **headers)


def use_contoso_mapping(client, source: str) -> None:
    saved = client.put(f"/api/sources/{source}/mapping", json=entra.CONTOSO_MAPPING,
                       headers=auth("admin-key", "application/json"))
    assert saved.status_code == 200, saved.text


def person(client, person_id: str) -> dict:
    return client.get(f"/api/persons/{person_id}", headers=auth("reader-key", None)).json()


def by_source(client, source: str, source_id: str) -> list:
    found = client.get("/api/persons", params={"source": source, "source_id": source_id},
                       headers=auth("reader-key", None))
    return found.json()["items"]


def test_the_documented_example_creates_a_person_with_the_mapped_affiliation(roster):
    client, _ = roster
    use_contoso_mapping(client, "workday")
    answer = upload(client, "workday", entra.bulk(entra.operation(entra.BARBARA, "897401c2")))
    assert answer.status_code == 202
    body = answer.json()
    assert answer.headers["Location"] == body["provisioningLogs"]
    [op] = body["Operations"]
    assert (op["bulkId"], op["outcome"], op["status"]) == ("897401c2", "created", "201")
    barbara = person(client, op["personId"])
    assert barbara["names"] == {"given": "Barbara", "family": "Jensen", "preferred": "Babs"}
    assert [e["address"] for e in barbara["emails"]] == ["bjensen@contoso.example", "babs@jensen.example"]
    assert barbara["identifiers"] == [{"source": "workday", "source_id": "701984"}]
    [job] = barbara["affiliations"]
    assert (job["source"], job["type"], job["organization"], job["title"]) == (
        "workday", "employee", "Tour Operations", "Tour Guide")
    assert (job["start"], job["end"]) == ("2026-09-01", None)
    assert job["attributes"] == {"department": "Tour Operations", "organization": "Universal Studios",
                                 "division": "Theme Park", "costCenter": "4130", "employeeNumber": "701984",
                                 "userType": "Employee", "JobCode": "TG-2"}
    assert barbara["attributes"]["manager"] == "89607"


def test_replay_is_unchanged_a_change_is_updated_an_older_record_is_stale(roster):
    client, _ = roster
    use_contoso_mapping(client, "sap")
    ada = entra.worker("5001", "Ada", "Lovelace")
    assert upload(client, "sap", entra.bulk(entra.operation(ada))).json()["Operations"][0]["outcome"] == "created"
    assert upload(client, "sap", entra.bulk(entra.operation(ada))).json()["Operations"][0]["outcome"] == "unchanged"
    moved = copy.deepcopy(ada)
    moved["title"] = "Principal Analyst"
    moved[entra.CONTOSO]["LastModified"] = "2026-11-02T08:00:00Z"
    [op] = upload(client, "sap", entra.bulk(entra.operation(moved))).json()["Operations"]
    assert (op["outcome"], op["changes"]) == ("updated", ["affiliations"])
    assert person(client, op["personId"])["affiliations"][0]["title"] == "Principal Analyst"
    older = copy.deepcopy(ada)
    older["title"] = "Intern"
    older[entra.CONTOSO]["LastModified"] = "2026-10-01T08:00:00Z"
    assert upload(client, "sap", entra.bulk(entra.operation(older))).json()["Operations"][0]["outcome"] == "stale"
    assert person(client, op["personId"])["affiliations"][0]["title"] == "Principal Analyst"


def test_a_leaver_sent_inactive_is_disabled_and_the_affiliation_ends(roster):
    client, _ = roster
    use_contoso_mapping(client, "hrleave")
    grace = entra.worker("6001", "Grace", "Hopper")
    upload(client, "hrleave", entra.bulk(entra.operation(grace)))
    gone = entra.leaver(grace, "2026-11-05T08:00:00Z")
    [op] = upload(client, "hrleave", entra.bulk(entra.operation(gone))).json()["Operations"]
    assert op["outcome"] == "disabled"
    job = person(client, op["personId"])["affiliations"][0]
    assert job["end"] is not None
    again = entra.leaver(grace, "2026-11-06T08:00:00Z")
    assert upload(client, "hrleave", entra.bulk(entra.operation(again))).json()["Operations"][0]["outcome"] == "unchanged"
    assert person(client, op["personId"])["affiliations"][0]["end"] == job["end"]


def test_one_bad_operation_fails_with_its_field_while_the_others_apply(roster):
    client, _ = roster
    good = entra.worker("7001", "Alan", "Turing")
    bad = entra.worker("7002", "Kurt", "Goedel", emails=[{"value": "not-an-address", "primary": True}])
    nameless = entra.worker("7003", "X", "Y", name={}, displayName="Mononym")
    body = upload(client, "oracle", entra.bulk(*map(entra.operation, (good, bad, nameless)))).json()
    outcomes = [(o["bulkId"], o["outcome"]) for o in body["Operations"]]
    assert outcomes == [("7001", "created"), ("7002", "failed"), ("7003", "failed")]
    assert body["Operations"][1]["response"]["field"] == "emails[0].value"
    assert body["Operations"][1]["response"]["scimType"] == "invalidValue"
    assert body["Operations"][2]["response"]["field"] == "name.familyName"
    assert by_source(client, "oracle", "7002") == [] and by_source(client, "oracle", "7003") == []


def test_the_provisioning_log_is_readable_at_once_with_entra_field_names(roster):
    client, _ = roster
    first, second = entra.worker("8001", "Edsger", "Dijkstra"), entra.worker("8002", "Bad", "Mail", emails=[{"value": "x"}])
    answer = upload(client, "peoplesoft", entra.bulk(entra.operation(first), entra.operation(second)))
    assert answer.headers["Location"].startswith("http://127.0.0.1:7071/api/provisioningLogs/")  # ROSTER_PUBLIC_URL
    log = client.get(urlsplit(answer.headers["Location"]).path, headers=auth("reader-key", None))
    assert log.status_code == 200
    entries = log.json()["items"]
    assert [(e["action"], e["status"], e["outcome"]) for e in entries] == [
        ("create", "success", "created"), ("other", "failure", "failed")]
    created = entries[0]
    assert created["source_identity"] == {"id": "8001", "identity_type": "User", "bulk_id": "8001"}
    assert created["target_identity"]["id"] == answer.json()["Operations"][0]["personId"]
    assert created["service_principal"] == {"id": "peoplesoft"}
    assert created["job_id"] == "job-1" and created["change_id"] == answer.json()["id"]
    assert {"names", "affiliations"} <= {p["display_name"] for p in created["modified_properties"]}
    assert entries[1]["field"] == "emails[0].value"
    missing = client.get("/api/provisioningLogs/unknown", headers=auth("reader-key", None))
    assert missing.status_code == 404


def test_the_mapping_is_stored_per_source_and_only_an_admin_edits_it(roster):
    client, _ = roster
    default = client.get("/api/sources/banner/mapping", headers=auth("admin-key", None)).json()
    assert default["affiliation_type"] == "employee" and default["title"] == "title"
    refused = client.put("/api/sources/banner/mapping", json={"affiliation_type": "student"},
                         headers=auth("hr-key", "application/json"))
    assert refused.status_code == 403
    bad = client.put("/api/sources/banner/mapping", json={"affiliation_type": "wizard"},
                     headers=auth("admin-key", "application/json"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "affiliation_type"
    saved = client.put("/api/sources/banner/mapping", json={"affiliation_type": "student", "keep_unknown": False},
                       headers=auth("admin-key", "application/json"))
    assert saved.status_code == 200
    [op] = upload(client, "banner", entra.bulk(entra.operation(entra.worker("9001", "Marie", "Curie")))).json()[
        "Operations"]
    job = person(client, op["personId"])["affiliations"][0]
    assert job["type"] == "student" and "JobCode" not in job["attributes"]
    assert client.get("/api/sources/workday/mapping", headers=auth("hr-key", None)).json()["affiliation_type"] == "employee"


def too_many():
    return entra.bulk(*[entra.operation(entra.worker(str(10000 + i), "N", "M")) for i in range(51)])


def non_post():
    return entra.bulk(entra.operation(entra.worker("1", "A", "B"), method="PATCH"))


def without_enterprise():
    data = entra.worker("2", "A", "B", schemas=[entra.CORE])
    return entra.bulk(entra.operation(data))


def without_external_id():
    data = entra.worker("3", "A", "B")
    del data["externalId"]
    return entra.bulk(entra.operation(data, bulk_id="b3"))


@pytest.mark.parametrize(("body", "field"), [
    (too_many(), "Operations"),
    (non_post(), "Operations[0].method"),
    (without_enterprise(), "Operations[0].data.schemas"),
    (without_external_id(), "Operations[0].data.externalId"),
], ids=["51-operations", "a-non-post-operation", "a-missing-schema-urn", "a-missing-externalId"])
def test_a_malformed_request_is_refused_whole_naming_the_field(roster, body, field):
    client, _ = roster
    answer = upload(client, "refused", body)
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["errors"][0]["field"] == field
    assert by_source(client, "refused", "10000") == [] and by_source(client, "refused", "1") == []


def test_nan_is_not_json_and_refuses_the_request_whole(roster):
    client, _ = roster
    body = json.dumps(entra.bulk(entra.operation(entra.worker("5", "A", "B", costCenter=1.5)))).replace("1.5", "NaN")
    answer = upload(client, "refused", body.encode())
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "body"
    assert by_source(client, "refused", "5") == []


def test_the_wrong_content_type_is_a_400(roster):
    client, _ = roster
    answer = upload(client, "refused", entra.bulk(entra.operation(entra.worker("4", "A", "B"))),
                    Content_Type="application/json")
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "Content-Type"
    assert by_source(client, "refused", "4") == []


def test_writing_needs_persons_write(roster):
    client, _ = roster
    answer = upload(client, "workday", entra.bulk(entra.operation(entra.BARBARA)), key="reader-key")
    assert answer.status_code == 403


def test_a_second_source_sending_a_known_person_is_held_for_review(roster):
    client, _ = roster
    use_contoso_mapping(client, "workday")
    use_contoso_mapping(client, "sap")
    assert upload(client, "workday", entra.bulk(entra.operation(entra.BARBARA, "b1"))).status_code == 202
    answer = upload(client, "sap", entra.bulk(entra.operation(entra.BARBARA, "b2")))
    [op] = answer.json()["Operations"]
    assert op["outcome"] == "held" and op.get("personId") is None, op
    held = client.get("/api/matches", headers=auth("reader-key", None)).json()["items"]
    assert [(m["source"], m["outcome"]) for m in held] == [("sap", "exact")]
