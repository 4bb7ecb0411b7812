"""Registration runs the matcher: by the source's policy an exact match is linked or held,
a possible one is held as a pending match until staff resolve it; merge and split."""

from __future__ import annotations

import json

import pytest

from shared.errors import Conflict, InvalidInput
from shared.models.group import MemberIn
from shared.models.matching import Resolution
from shared.models.person import PersonUpdate
from shared.services import merging, pending_matches
from shared.services.groups import add_member
from shared.services.registration import register
from shared.store.pending import PendingRepository
from shared.store.persons import PersonRepository
from tests.factories import hr_update

POLICY = {"sis": "auto", "lms": "review", "crm": "never"}


@pytest.fixture
def extra_settings() -> dict[str, str]:
    return {"ROSTER_MATCH_POLICY": json.dumps(POLICY), "ROSTER_NATIONAL_ID_KEY": "k"}


@pytest.fixture
def ada(rt) -> str:
    body = hr_update(birth_date="1815-12-10", national_id="123456789",
                     address={"street": "12 St James's Square", "locality": "London", "postcode": "SW1Y 4JH"})
    return register(rt, PersonUpdate.model_validate(body), "hr").person.id


def record(source: str, source_id: str = "S-1", as_of: str = "2026-11-02T08:00:00+00:00", **over) -> PersonUpdate:
    body = {"source": source, "source_id": source_id, "as_of": as_of, "names": {"given": "Ada", "family": "Lovelace"},
            "birth_date": "1815-12-10", "national_id": "123-456-789",
            "address": {"street": "12 St James's Square", "locality": "London", "postcode": "SW1Y4JH"},
            "affiliations": [{"key": "prog", "type": "student", "organization": "MATH", "start": "2025-09-01"}]}
    body.update(over)
    return PersonUpdate.model_validate(body)


def persons(rt) -> int:
    return len(list(PersonRepository(rt.store).all_ids()))


def test_an_exact_match_from_an_auto_source_is_linked_and_audited_with_its_scores(rt, ada):
    result = register(rt, record("sis"), "source:sis")
    assert result.outcome == "updated" and result.person.id == ada
    assert sorted(a.source for a in result.person.affiliations) == ["hr", "sis"]
    matched = PersonRepository(rt.store).trail(ada)[-1]
    assert matched["action"] == "person.matched"
    assert matched["details"]["match"]["outcome"] == "exact"
    assert matched["details"]["match"]["candidates"][0]["person_id"] == ada
    assert persons(rt) == 1


def test_an_exact_match_from_a_review_source_is_held_and_grants_nothing(rt, ada):
    result = register(rt, record("lms"), "source:lms")
    assert result.outcome == "held" and result.person is None
    assert persons(rt) == 1
    assert PersonRepository(rt.store).owner_of("lms", "S-1") is None
    assert [m.id for m in pending_matches.open_matches(rt)] == [result.pending.id]
    assert "123" not in json.dumps(result.pending.update)  # the held record keeps only the hash


def test_a_possible_match_is_held_even_for_an_auto_source(rt, ada):
    vague = record("sis", national_id=None, address=None, birth_date=None)  # names alone are never exact
    result = register(rt, vague, "source:sis")
    assert result.outcome == "held" and result.pending.outcome == "possible"


def test_a_never_source_creates_a_new_person(rt, ada):
    result = register(rt, record("crm"), "source:crm")
    assert result.outcome == "created" and result.person.id != ada


def test_a_source_never_sends_one_person_twice(rt, ada):
    again = register(rt, PersonUpdate.model_validate(hr_update(source_id="E2", birth_date="1815-12-10")), "hr")
    assert again.outcome == "created"


def test_a_newer_update_replaces_the_held_one_and_an_older_is_stale(rt, ada):
    held = register(rt, record("lms"), "lms").pending
    newer = register(rt, record("lms", as_of="2026-11-02T08:30:00+00:00", attributes={"year": "2"}), "lms")
    assert newer.outcome == "held" and newer.pending.update["attributes"] == {"year": "2"}
    older = register(rt, record("lms", as_of="2026-11-01T08:00:00+00:00"), "lms")
    assert older.outcome == "stale" and older.pending.id == held.id


def test_linking_registers_the_held_update_on_the_person_and_runs_once(rt, ada):
    held = register(rt, record("lms"), "lms").pending
    resolved, result = pending_matches.resolve(rt, held.id, Resolution(decision="link", person_id=ada), "staff")
    assert resolved.state == "linked" and resolved.person_id == ada
    assert result.registration.person.id == ada
    assert sorted(a.source for a in result.registration.person.affiliations) == ["hr", "lms"]
    assert pending_matches.open_matches(rt) == []
    assert [r["action"] for r in PendingRepository(rt.store).trail(held.id)] == ["match.held", "match.linked"]


def test_creating_a_new_person_from_a_held_record(rt, ada):
    held = register(rt, record("lms"), "lms").pending
    resolved, result = pending_matches.resolve(rt, held.id, Resolution(decision="create"), "staff")
    assert resolved.state == "created" and result.registration.outcome == "created"
    assert result.registration.person.id != ada and persons(rt) == 2
    later = register(rt, record("lms", as_of="2026-11-02T08:40:00+00:00"), "lms")
    assert later.person.id == result.registration.person.id  # no longer held


def test_resolving_a_pending_match_twice_is_a_conflict(rt, ada):
    held = register(rt, record("lms"), "lms").pending
    pending_matches.resolve(rt, held.id, Resolution(decision="link", person_id=ada), "staff")
    with pytest.raises(Conflict):
        pending_matches.resolve(rt, held.id, Resolution(decision="create"), "staff")


def test_a_link_needs_a_person():
    with pytest.raises(ValueError):
        Resolution(decision="link")


def twin(rt) -> str:
    body = record("crm", "C-9", emails=[{"address": "ada@crm.example"}])
    return register(rt, body, "crm").person.id


def test_merging_moves_identifiers_and_affiliations_and_retires_the_other(rt, ada):
    other = twin(rt)
    survivor = merging.merge(rt, ada, other, "staff", "the same human")
    assert {f"{i.source}:{i.source_id}" for i in survivor.identifiers} == {"hr:E1001", "crm:C-9"}
    assert sorted(a.source for a in survivor.affiliations) == ["crm", "hr"]
    repo = PersonRepository(rt.store)
    assert repo.owner_of("crm", "C-9") == ada
    retired = repo.get(other).person
    assert retired.merged_into == ada and retired.affiliations == [] and retired.identifiers == []
    assert repo.trail(ada)[-1]["action"] == "person.merged"
    assert repo.trail(other)[-1]["action"] == "person.merged_into"
    later = register(rt, record("crm", "C-9", as_of="2026-11-02T08:50:00+00:00"), "crm")
    assert later.person.id == ada


def test_a_split_restores_the_other_person_as_it_was(rt, ada):
    other = twin(rt)
    merging.merge(rt, ada, other, "staff", "the same human")
    survivor, restored = merging.split(rt, ada, "staff", "they were two")
    assert [i.source for i in survivor.identifiers] == ["hr"] and [a.source for a in survivor.affiliations] == ["hr"]
    assert [e.address for e in survivor.emails] == ["ada.lovelace@example.edu"]
    assert restored.id == other and restored.merged_into is None and [a.source for a in restored.affiliations] == ["crm"]
    assert PersonRepository(rt.store).owner_of("crm", "C-9") == other


def test_merging_a_person_with_itself_is_refused_naming_the_field(rt, ada):
    with pytest.raises(InvalidInput) as refused:
        merging.merge(rt, ada, ada, "staff", "oops")
    assert refused.value.errors[0].field == "other"


def test_merging_with_a_suspended_person_is_refused(rt, ada):
    other = twin(rt)
    add_member(rt, "suspend-immediate", MemberIn(person_id=other, reason="investigation"), "security",
               {"Suspend.Manage"})
    with pytest.raises(Conflict):
        merging.merge(rt, ada, other, "staff", "the same human")
    assert PersonRepository(rt.store).owner_of("crm", "C-9") == other  # nothing moved


def test_splitting_a_person_never_merged_is_refused(rt, ada):
    with pytest.raises(Conflict):
        merging.split(rt, ada, "staff", "why not")


def test_after_a_merge_the_person_has_one_account_per_target_and_the_others_orders_are_superseded(rt):
    from shared.models.group import GroupIn
    from shared.models.provisioning import Policy, Target
    from shared.services import groups
    from shared.services.chain import run_sync
    from shared.store.orders import OrderRepository
    from shared.store.targets import TargetRepository

    rule = 'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -eq "FIN")'
    groups.create_group(rt, GroupIn(id="fin", name="Finance", kind="dynamic", rule=rule), "admin")
    TargetRepository(rt.store).save(Target(id="wiki", name="Wiki"))
    TargetRepository(rt.store).add_policy("wiki", Policy(group_id="fin", entitlement="account"))
    survivor = run_sync(rt, PersonUpdate.model_validate(hr_update(birth_date="1815-12-10")), "hr").registration.person
    crm = hr_update(source_id="C-9", birth_date="1815-12-10", emails=[{"address": "ada@crm.example"}])
    other = run_sync(rt, record("crm", "C-9", **{k: crm[k] for k in ("affiliations", "emails")}), "crm").registration.person
    orders = OrderRepository(rt.store)
    assert [o.action.value for o in orders.of_person(other.id)] == ["create_account"]

    merging.merge(rt, survivor.id, other.id, "staff", "the same human")
    live = [o for o in orders.of_person(survivor.id) if o.state.value != "Inactive"]
    assert [(o.action.value, o.target_id) for o in live] == [("create_account", "wiki")]
    assert [o.state.value for o in orders.of_person(other.id)] == ["Inactive"]


def test_a_held_record_cannot_be_linked_to_a_retired_person(rt, ada):
    other = twin(rt)
    merging.merge(rt, ada, other, "staff", "the same human")
    held = register(rt, record("lms"), "lms").pending
    with pytest.raises(Conflict):
        pending_matches.resolve(rt, held.id, Resolution(decision="link", person_id=other), "staff")
    assert [m.id for m in pending_matches.open_matches(rt)] == [held.id]


def test_a_bulk_load_answers_held_for_a_record_that_waits_for_staff(rt, ada):
    from shared.services import bulk

    body = json.loads(record("lms").model_dump_json(exclude_none=True))
    answer = bulk.load(rt, [body], "lms")
    assert answer["summary"] == {"held": 1}
    assert persons(rt) == 1


def test_a_dry_run_says_a_record_would_be_held_and_holds_nothing(rt, ada):
    from shared.services import bulk

    body = json.loads(record("lms").model_dump_json(exclude_none=True))
    answer = bulk.load(rt, [body], "lms", dry_run=True)
    assert answer["summary"] == {"held": 1}
    assert pending_matches.open_matches(rt) == []


@pytest.mark.parametrize("crash_at", ["_retire", "_run_chain"])
def test_a_merge_interrupted_by_a_crash_is_finished_by_trying_again(rt, ada, monkeypatch, crash_at):
    other = twin(rt)
    real = getattr(merging, crash_at)

    def crash(*args, **kwargs):
        raise RuntimeError("the process died")

    monkeypatch.setattr(merging, crash_at, crash)
    with pytest.raises(RuntimeError):
        merging.merge(rt, ada, other, "staff", "the same human")
    monkeypatch.setattr(merging, crash_at, real)
    survivor = merging.merge(rt, ada, other, "staff", "the same human")
    assert {i.source for i in survivor.identifiers} == {"hr", "crm"}
    assert PersonRepository(rt.store).get(other).person.merged_into == ada
    assert [r["action"] for r in PersonRepository(rt.store).trail(ada)].count("person.merged") == 1


def test_a_split_interrupted_by_a_crash_is_finished_by_trying_again(rt, ada, monkeypatch):
    other = twin(rt)
    merging.merge(rt, ada, other, "staff", "the same human")
    real = merging._restore
    monkeypatch.setattr(merging, "_restore", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("died")))
    with pytest.raises(RuntimeError):
        merging.split(rt, ada, "staff", "two people")
    monkeypatch.setattr(merging, "_restore", real)
    survivor, restored = merging.split(rt, ada, "staff", "two people")
    assert [i.source for i in survivor.identifiers] == ["hr"] and restored.merged_into is None
    assert PersonRepository(rt.store).owner_of("crm", "C-9") == other
