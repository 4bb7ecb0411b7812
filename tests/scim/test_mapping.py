"""The mapping from a SCIM User record to a PersonUpdate (shared/services/scim/mapping.py),
on Entra's documented example; dated decisions take an explicit `now`."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime

import pytest

from shared.errors import InvalidInput
from shared.models.person import Affiliation, Names, Person
from shared.models.scim import ScimMapping
from shared.services.scim.mapping import lookup, to_update
from tests.scim import entra

NOW = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
CONTOSO = ScimMapping.model_validate(entra.CONTOSO_MAPPING)


def person_with(affiliation: dict) -> Person:
    return Person(id="p1", names=Names(given="Barbara", family="Jensen"), created_at=NOW, updated_at=NOW,
                  affiliations=[Affiliation(source="workday", **affiliation)])


def test_lookup_is_case_insensitive_and_takes_the_primary_value():
    assert lookup(entra.BARBARA, "NAME.givenName") == "Barbara"
    assert lookup(entra.BARBARA, "emails.value") == "bjensen@contoso.example"
    assert lookup(entra.BARBARA, f"{entra.ENTERPRISE}:manager.value") == "89607"
    assert lookup(entra.BARBARA, "urn:contoso:employee:jobcode") == "TG-2"
    assert lookup(entra.BARBARA, "urn:unknown:ns:Thing") is None


def test_the_example_maps_to_one_affiliation_with_dates_and_attributes():
    update = to_update(entra.BARBARA, CONTOSO, "workday", "701984", None, NOW)
    assert (update.source, update.source_id, update.as_of) == ("workday", "701984",
                                                              datetime(2026, 11, 1, 8, 0, tzinfo=UTC))
    [job] = update.affiliations
    assert (job.key, job.organization, job.title, job.start, job.end) == (
        "scim", "Tour Operations", "Tour Guide", date(2026, 9, 1), None)
    assert job.attributes["JobCode"] == "TG-2" and "HireDate" not in job.attributes
    assert update.attributes == {"manager": "89607", "userName": "bjensen@contoso.example"}


def test_inactive_ends_now_and_a_replay_keeps_the_first_end():
    gone = entra.leaver(entra.BARBARA, "2026-11-05T08:00:00Z")
    first = to_update(gone, CONTOSO, "workday", "701984", None, NOW)
    assert first.affiliations[0].end == NOW
    before = person_with(first.affiliations[0].model_dump())
    later = datetime(2026, 11, 20, tzinfo=UTC)
    assert to_update(gone, CONTOSO, "workday", "701984", before, later).affiliations[0].end == NOW


def test_inactive_brings_a_later_leave_date_forward_and_keeps_an_earlier_one():
    later_leave = entra.leaver(entra.BARBARA, "2026-11-05T08:00:00Z")
    later_leave[entra.CONTOSO]["LeaveDate"] = "2026-12-31"
    assert to_update(later_leave, CONTOSO, "workday", "1", None, NOW).affiliations[0].end == NOW
    earlier = copy.deepcopy(later_leave)
    earlier[entra.CONTOSO]["LeaveDate"] = "2026-11-01"
    assert to_update(earlier, CONTOSO, "workday", "1", None, NOW).affiliations[0].end == date(2026, 11, 1)


def test_without_a_hire_date_the_start_already_given_stays():
    record = copy.deepcopy(entra.BARBARA)
    del record[entra.CONTOSO]["HireDate"]
    current = person_with({"key": "scim", "type": "employee", "organization": "X", "start": "2020-02-02"})
    assert to_update(record, CONTOSO, "workday", "1", current, NOW).affiliations[0].start == date(2020, 2, 2)
    assert to_update(record, CONTOSO, "workday", "1", None, NOW).affiliations[0].start == NOW


def test_organization_falls_back_through_the_paths_to_the_default():
    record = copy.deepcopy(entra.BARBARA)
    del record[entra.ENTERPRISE]["department"]
    assert to_update(record, CONTOSO, "w", "1", None, NOW).affiliations[0].organization == "Universal Studios"
    del record[entra.ENTERPRISE]["organization"]
    assert to_update(record, CONTOSO, "w", "1", None, NOW).affiliations[0].organization == "unassigned"


@pytest.mark.parametrize(("change", "field"), [
    ({"urn:contoso:employee": {"HireDate": "first of May"}}, "urn:contoso:employee:HireDate"),
    ({"emails": [{"value": "nope"}]}, "emails[0].value"),
    ({"active": "yes"}, "active"),
    ({"name": {}, "displayName": "Cher"}, "name.familyName"),
    ({"title": {"nested": True}}, "title"),
], ids=["bad-date", "bad-email", "active-not-boolean", "no-name", "title-not-text"])
def test_a_bad_value_names_its_scim_field(change, field):
    record = {**copy.deepcopy(entra.BARBARA), **change}
    with pytest.raises(InvalidInput) as refused:
        to_update(record, CONTOSO, "workday", "1", None, NOW)
    assert refused.value.errors[0].field == field


def test_a_mapping_refuses_a_malformed_path():
    with pytest.raises(ValueError):
        ScimMapping.model_validate({"title": "title with spaces"})
