"""Item 3 of issue 11: one identifier, one person (normalised source and source_id)."""

from __future__ import annotations

import pytest

from shared.models.person import normalise_identifier
from shared.store.port import Entity
from tests.factories import hr_update
from tests.hardening.calls import call, payload

LOOK_ALIKES = [
    "Ｅ１００１",  # full-width
    "E\u200b1001",  # zero-width space
    "E1\u200d001",  # zero-width joiner
    "\ufeffE1001",  # byte order mark
    "E10\u00ad01",  # soft hyphen
    "  E1001\u00a0",  # surrounding (non-breaking) space
    "E１００1",  # mixed
]


@pytest.mark.parametrize("variant", LOOK_ALIKES)
def test_a_look_alike_of_an_identifier_lands_on_the_same_person(rt, variant):
    first = call("persons_register", "POST", key="hr-key", body=hr_update())
    again = call("persons_register", "POST", key="hr-key",
                 body=hr_update(source_id=variant, as_of="2026-11-02T08:00:00+00:00"))

    assert first.status_code == 201
    assert again.status_code == 200
    assert payload(again)["person"]["id"] == payload(first)["person"]["id"]
    assert [i["source_id"] for i in payload(again)["person"]["identifiers"]] == ["E1001"]


def test_the_source_name_is_normalised_too_and_lookups_find_the_person_by_any_spelling(rt):
    created = payload(call("persons_register", "POST", key="hr-key", body=hr_update(source="ｈｒ")))

    for source, source_id in (("hr", "E1001"), ("ｈｒ", "Ｅ１００１"), ("h\u200br", " E1001 ")):
        found = payload(call("persons_search", key="reader-key", params={"source": source, "source_id": source_id}))
        assert [p["id"] for p in found["items"]] == [created["person"]["id"]]


def test_case_is_kept_and_significant(rt):
    upper = payload(call("persons_register", "POST", key="hr-key", body=hr_update(source_id="E1001")))
    lower = payload(call("persons_register", "POST", key="hr-key", body=hr_update(source_id="e1001")))

    assert upper["outcome"] == lower["outcome"] == "created"
    assert upper["person"]["id"] != lower["person"]["id"]


def test_an_identifier_stored_before_normalisation_keeps_working(rt):
    """A claim written by an earlier version under the raw spelling still finds its person,
    and the next update from that source adds the normalised claim."""
    created = payload(call("persons_register", "POST", key="hr-key", body=hr_update(source_id="L-1")))
    person_id = created["person"]["id"]
    identifiers = rt.store.table("identifiers")
    identifiers.delete("hr", "L-1")
    identifiers.insert(Entity("hr", "L\u200b-1", {"person_id": person_id}))  # the legacy spelling

    found = payload(call("persons_search", key="reader-key", params={"source": "hr", "source_id": "L\u200b-1"}))
    again = payload(call("persons_register", "POST", key="hr-key",
                         body=hr_update(source_id="L\u200b-1", as_of="2026-11-02T08:00:00+00:00")))

    assert [p["id"] for p in found["items"]] == [person_id]
    assert again["person"]["id"] == person_id
    assert identifiers.get("hr", "L-1").properties["person_id"] == person_id


def test_normalisation_is_idempotent_and_leaves_plain_identifiers_alone():
    for value in ("E1001", "émile.dupont", "ID/with/slashes", "東京-7"):
        assert normalise_identifier(value) == value
    for value in LOOK_ALIKES:
        assert normalise_identifier(normalise_identifier(value)) == normalise_identifier(value) == "E1001"
