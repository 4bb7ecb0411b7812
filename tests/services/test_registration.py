"""Registration scenarios on the SQLite store and local bus."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from shared.errors import InvalidInput
from shared.models.messages import PersonRef
from shared.models.person import PersonUpdate
from shared.services import search
from shared.services.registration import register
from shared.store.persons import PersonRepository
from tests.factories import hr_update


def update(**over) -> PersonUpdate:
    return PersonUpdate.model_validate(hr_update(**over))


def changed_events(rt) -> list[PersonRef]:
    events = []
    while (delivery := rt.bus.receive("person-changed")) is not None:
        events.append(PersonRef.model_validate_json(delivery.body))
        rt.bus.complete(delivery)
    return events


def test_a_new_source_record_creates_a_person_and_announces_it(rt):
    result = register(rt, update(), "apikey:test")

    assert result.outcome == "created"
    assert result.person.names.family == "Lovelace"
    assert result.person.affiliations[0].source == "hr"
    assert result.person.created_at == rt.clock.now()
    stored = PersonRepository(rt.store).get(result.person.id)
    assert stored.person == result.person
    assert [e.person_id for e in changed_events(rt)] == [result.person.id]


def test_the_same_source_record_updates_the_same_person(rt):
    first = register(rt, update(), "hr")
    second = register(rt, update(as_of="2026-11-02T08:00:00+00:00", names={"given": "Ada", "family": "King"}), "hr")

    assert second.outcome == "updated"
    assert second.person.id == first.person.id
    assert second.changes == ["names"]
    assert second.person.version == first.person.version + 1


def test_replaying_an_update_changes_nothing_and_is_deduplicated_on_the_bus(rt):
    first = register(rt, update(), "hr")
    replay = register(rt, update(), "hr")

    assert replay.outcome == "unchanged"
    assert replay.person.version == first.person.version
    assert len(changed_events(rt)) == 1
    assert len(PersonRepository(rt.store).trail(first.person.id)) == 1


def test_an_update_older_than_the_last_applied_is_stale(rt):
    register(rt, update(as_of="2026-11-02T08:30:00+00:00"), "hr")
    changed_events(rt)
    stale = register(rt, update(as_of="2026-11-02T08:15:00+00:00", names={"given": "Old", "family": "Name"}), "hr")

    assert stale.outcome == "stale"
    assert stale.person.names.given == "Ada"
    assert changed_events(rt) == []


def test_each_source_owns_its_affiliations(rt):
    register(rt, update(), "hr")
    student = {
        "source": "sis", "source_id": "S-77", "as_of": "2026-11-01T09:00:00+00:00",
        "affiliations": [{"key": "prog", "type": "student", "organization": "MATH", "start": "2025-09-01"}],
    }
    from shared.models.person import Identifier
    from shared.services.registration import link_identifier

    hr_person = search.by_identifier(PersonRepository(rt.store), "hr", "E1001")
    link_identifier(rt, hr_person.id, Identifier(source="sis", source_id="S-77"), "apikey:hr", "matched")
    both = register(rt, PersonUpdate.model_validate(student), "sis")
    assert sorted(a.source for a in both.person.affiliations) == ["hr", "sis"]

    hr_again = register(rt, update(as_of="2026-11-02T08:30:00+00:00", affiliations=[]), "hr")
    assert [a.source for a in hr_again.person.affiliations] == ["sis"]


def test_a_new_person_needs_names(rt):
    with pytest.raises(InvalidInput) as error:
        register(rt, update(names=None), "hr")
    assert error.value.errors[0].field == "names"
    assert PersonRepository(rt.store).owner_of("hr", "E1001") is None  # nothing stored
    assert search.by_identifier(PersonRepository(rt.store), "hr", "E1001") is None


def test_concurrent_updates_from_two_sources_are_both_kept(rt):
    person = register(rt, update(), "hr").person
    repo = PersonRepository(rt.store)
    for n in range(8):
        repo.claim(f"src{n}", f"id{n}", person.id)

    def send(n: int) -> None:
        body = {
            "source": f"src{n}", "source_id": f"id{n}", "as_of": "2026-11-02T00:00:00+00:00",
            "attributes": {f"from_src{n}": n},
        }
        register(rt, PersonUpdate.model_validate(body), f"src{n}")

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    final = repo.get(person.id).person
    assert {f"from_src{n}" for n in range(8)} <= set(final.attributes)
    assert final.version == person.version + 8


def test_identifiers_with_reserved_and_non_ascii_characters_round_trip(rt):
    odd = "a/b#c?d e\\f-é日本"
    created = register(rt, update(source_id=odd), "hr")
    found = search.by_identifier(PersonRepository(rt.store), "hr", odd)
    assert found.id == created.person.id
    assert found.identifiers[0].source_id == odd


def test_text_search_finds_by_name_prefix_and_email_ignoring_case_and_accents(rt):
    register(rt, update(names={"given": "Éloïse", "family": "Dubois"},
                        emails=[{"address": "e.dubois@example.edu"}]), "hr")
    register(rt, update(source_id="E2", names={"given": "Eloi", "family": "Martin"},
                        emails=[{"address": "eloi.martin@example.edu"}]), "hr")
    repo = PersonRepository(rt.store)

    assert [p.names.family for p in search.by_text(repo, "elo")] == ["Dubois", "Martin"]
    assert [p.names.family for p in search.by_text(repo, "ELOISE dub")] == ["Dubois"]
    assert [p.names.family for p in search.by_text(repo, "eloi.martin@example.edu")] == ["Martin"]
    assert search.by_text(repo, "zzz") == []


def test_a_renamed_person_is_no_longer_found_by_the_old_name(rt):
    register(rt, update(names={"given": "Grace", "family": "Murray"}), "hr")
    register(rt, update(as_of="2026-11-02T08:00:00+00:00", names={"given": "Grace", "family": "Hopper"}), "hr")
    repo = PersonRepository(rt.store)
    assert search.by_text(repo, "murray") == []
    assert [p.names.family for p in search.by_text(repo, "hopper")] == ["Hopper"]


def test_a_name_listed_only_inside_an_email_is_still_found_once_the_email_changes(rt):
    """`ada` is not listed on its own while `ada.lovelace@…` begins with it; when the address
    changes, the name gets its own entry and the old address's goes."""
    register(rt, update(names={"given": "Ada", "family": "Lovelace"}, emails=[{"address": "ada.lovelace@example.edu"}]),
             "hr")
    repo = PersonRepository(rt.store)
    assert [p.names.family for p in search.by_text(repo, "ada")] == ["Lovelace"]
    register(rt, update(as_of="2026-11-02T08:00:00+00:00", names={"given": "Ada", "family": "Lovelace"},
                        emails=[{"address": "countess@example.edu"}]), "hr")
    assert [p.names.family for p in search.by_text(repo, "ada")] == ["Lovelace"]
    assert [p.names.family for p in search.by_text(repo, "countess")] == ["Lovelace"]
    assert search.by_text(repo, "ada.lovelace@example.edu") == []
    assert {e.row_key.split("|")[0] for e in rt.store.table("personsearch").query("ad")} == {"ada"}


def test_every_change_is_audited_with_who_and_why(rt):
    person = register(rt, update(), "apikey:abc").person
    register(rt, update(as_of="2026-11-02T08:00:00+00:00", attributes={"costCenter": "4711"}), "apikey:abc")
    trail = PersonRepository(rt.store).trail(person.id)
    assert [r["action"] for r in trail] == ["person.created", "person.updated"]
    assert trail[1]["actor"] == "apikey:abc"
    assert "hr update as of 2026-11-02T08:00:00+00:00" == trail[1]["why"]
    assert trail[1]["details"]["changes"] == ["attributes"]
    assert trail[0]["at"] == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_a_new_person_is_stored_filed_and_indexed_as_read_back(rt):
    """A new person is built once from the update (its entity, its matching profile):
    what was stored, filed for matching and indexed is what the person read back gives."""
    from shared.services.matching import person_profile
    from shared.services.search import person_tokens

    body = hr_update(source_id="E77", names={"given": "Zoë", "family": "O'Brien-Smith"}, birth_date="1990-02-03",
                     emails=[{"address": "Zoe.OBrien@Example.edu"}],
                     address={"street": "1 Main St", "postcode": "AB1 2CD", "country": "GB"},
                     affiliations=[{"key": "job", "type": "staff", "organization": "LIB", "start": "2026-01-01",
                                    "attributes": {"grade": 7}}])
    result = register(rt, PersonUpdate.model_validate(body), "hr")
    stored = PersonRepository(rt.store).get(result.person.id).person
    assert stored == result.person
    assert stored.affiliations[0].source == "hr" and stored.affiliations[0].attributes == {"grade": 7}
    filed = {e.partition_key: e.properties["p"] for p in ("d:19900203", "e:zoe.obrien@example.edu")
             for e in rt.store.table("personmatch").query(p)}
    assert set(filed.values()) == {person_profile(stored).pack()}
    assert person_profile(stored).sources == ("hr",)
    for token in person_tokens(stored):  # each found by a prefix lookup, "zoe" in "zoe.obrien@example.edu"
        assert PersonRepository(rt.store).ids_with_token_prefix(token, 10) == {stored.id}
    rows = {e.row_key.split("|")[0] for t in person_tokens(stored)
            for e in rt.store.table("personsearch").query(t[:2], prefix=t)}
    assert rows == person_tokens(stored) - {"zoe"}  # a token beginning another is not listed
