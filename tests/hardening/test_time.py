"""Item 4 of issue 11: an `as_of` far in the future is refused; a poisoned stamp is repairable."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest

from shared.errors import InvalidInput
from shared.models.person import PersonUpdate
from shared.services.registration import register
from tests.factories import hr_update
from tests.hardening.calls import call, payload, problem_fields

NOW = "2026-11-02T09:00:00+00:00"  # the suite's clock


def test_an_as_of_beyond_the_skew_is_a_422_naming_it_and_nothing_is_stored(rt):
    for mode in ("sync", "async"):
        response = call("persons_register", "POST", key="hr-key", params={"mode": mode},
                        body=hr_update(as_of="9999-12-31T00:00:00+00:00"))
        assert response.status_code == 422
        assert problem_fields(response) == ["as_of"]
    assert payload(call("persons_search", key="reader-key", params={"source": "hr", "source_id": "E1001"}))[
        "items"] == []


def test_an_as_of_within_the_skew_is_accepted(rt):
    response = call("persons_register", "POST", key="hr-key", body=hr_update(as_of="2026-11-02T09:04:59+00:00"))

    assert response.status_code == 201


def test_the_skew_is_a_setting(rt, monkeypatch):
    monkeypatch.setattr(rt, "settings", dataclasses.replace(rt.settings, as_of_max_skew=timedelta(hours=2)))

    assert call("persons_register", "POST", key="hr-key",
                body=hr_update(as_of="2026-11-02T10:30:00+00:00")).status_code == 201
    assert call("persons_register", "POST", key="hr-key",
                body=hr_update(source_id="E2", as_of="2026-11-02T11:30:00+00:00")).status_code == 422


def test_a_queued_update_from_the_future_is_refused_too(rt):
    update = PersonUpdate.model_validate(hr_update(as_of="2030-01-01T00:00:00+00:00"))

    with pytest.raises(InvalidInput):  # the queue dead-letters what the service refuses
        register(rt, update, "source:hr")


def test_an_admin_repairs_a_poisoned_stamp_and_the_leaver_is_then_applied(rt, clock):
    created = payload(call("persons_register", "POST", key="hr-key", body=hr_update()))
    person_id = created["person"]["id"]
    clock.set(clock.now() + timedelta(days=3650))  # an update dated ten years ahead got in…
    call("persons_register", "POST", key="hr-key", body=hr_update(as_of=(clock.now()).isoformat()))
    clock.set(clock.now() - timedelta(days=3650))  # …while the clock was wrong
    leaver = hr_update(as_of=NOW, affiliations=[])
    assert payload(call("persons_register", "POST", key="hr-key", body=leaver))["outcome"] == "stale"

    refused = call("persons_source_repair", "POST", key="hr-key", route={"id": person_id, "source": "hr"},
                   body={"reason": "a feed sent 2036"})
    repaired = call("persons_source_repair", "POST", route={"id": person_id, "source": "hr"},
                    body={"reason": "a feed sent 2036"})
    applied = payload(call("persons_register", "POST", key="hr-key", body=leaver))

    assert refused.status_code == 403
    assert repaired.status_code == 200
    assert payload(repaired)["after"] is None
    assert applied["outcome"] == "updated"
    assert applied["person"]["affiliations"] == []
    trail = [e for e in rt.store.table("persons").query(person_id) if e.row_key.startswith("audit|")]
    repairs = [e.properties for e in trail if e.properties["action"] == "person.source_stamp_repaired"]
    assert len(repairs) == 1
    assert repairs[0]["why"] == "a feed sent 2036"
    assert json.loads(repairs[0]["details"])["before"].startswith("2036")


def test_a_stamp_can_be_set_to_a_given_instant_but_not_to_the_future(rt):
    person_id = payload(call("persons_register", "POST", key="hr-key", body=hr_update()))["person"]["id"]
    route = {"id": person_id, "source": "hr"}

    future = call("persons_source_repair", "POST", route=route, body={"as_of": "2027-01-01T00:00:00+00:00",
                                                                       "reason": "x"})
    ok = call("persons_source_repair", "POST", route=route, body={"as_of": "2026-10-01T00:00:00+00:00",
                                                                   "reason": "back to October"})
    unknown = call("persons_source_repair", "POST", route={"id": person_id, "source": "sis"}, body={"reason": "x"})

    assert future.status_code == 422 and problem_fields(future) == ["as_of"]
    assert ok.status_code == 200 and payload(ok)["after"] == "2026-10-01T00:00:00+00:00"
    assert unknown.status_code == 404


def test_a_bulk_load_refuses_a_future_as_of_per_record_in_a_dry_run_too(rt):
    records = [hr_update(source_id="B1"), hr_update(source_id="B2", as_of="2030-01-01T00:00:00+00:00")]

    for dry_run in ("true", "false"):
        response = call("persons_bulk", "POST", key="hr-key", params={"dry_run": dry_run}, body=records)
        results = payload(response)["items"]
        assert [r["outcome"] for r in results][1] == "failed"
        assert results[1]["errors"][0]["field"] == "as_of"
