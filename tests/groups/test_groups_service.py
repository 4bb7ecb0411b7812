"""Group scenarios on the SQLite store with a travelling clock (tz Europe/Brussels)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import Conflict, InvalidInput, NotAllowed, NotFound, PersonNotFound
from shared.models.group import GroupIn, MemberIn
from shared.models.messages import PersonRef
from shared.models.person import PersonUpdate
from shared.services import groups
from shared.services.chain import run_sync
from shared.services.membership import evaluate_person, sweep_due, upcoming
from shared.store.groups import MembershipRepository
from tests.factories import FIN_RULE, hr_update

# The job's end date 2026-11-30 is inclusive in Europe/Brussels (UTC+1): over at 23:00 UTC.
LAST_SECOND = datetime(2026, 11, 30, 22, 59, 59, tzinfo=UTC)
END = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)


def register(rt, **over) -> str:
    return run_sync(rt, PersonUpdate.model_validate(hr_update(**over)), "hr").registration.person.id


def dynamic(rt, group_id="fin-employees", rule=FIN_RULE):
    return groups.create_group(rt, GroupIn(id=group_id, name=group_id, kind="dynamic", rule=rule), "admin")


def pump(rt, queue: str, handle) -> int:
    """Deliver every due message of a queue to `handle`, as the host would."""
    count = 0
    while (delivery := rt.bus.receive(queue)) is not None:
        handle(delivery)
        rt.bus.complete(delivery)
        count += 1
    return count


def pump_person_changed(rt) -> int:
    return pump(rt, "person-changed",
                lambda d: evaluate_person(rt, *PersonRef.model_validate_json(d.body).model_dump().values()))


def current_groups(rt, person_id) -> set[str]:
    return set(MembershipRepository(rt.store).state(person_id).groups)


def test_an_employee_whose_job_ends_keeps_the_group_until_the_end_instant_and_loses_it_then(rt):
    dynamic(rt)
    result = run_sync(rt, PersonUpdate.model_validate(hr_update()), "hr")
    person_id = result.registration.person.id
    assert [a["group_id"] for a in result.groups.added] == ["fin-employees"]
    assert "affiliation.organization" in result.groups.added[0]["reason"]

    assert upcoming(rt, person_id) == [
        {"group_id": "fin-employees", "change": "leave", "at": END, "reason": result.groups.added[0]["reason"], "orders": []}
    ]
    rt.clock.set(LAST_SECOND)
    assert pump_person_changed(rt) == 0  # the scheduled re-evaluation is not due yet
    assert current_groups(rt, person_id) == {"fin-employees"}

    rt.clock.set(END)
    assert pump_person_changed(rt) == 1
    assert current_groups(rt, person_id) == set()
    trail = MembershipRepository(rt.store).table.query(f"person:{person_id}", prefix="audit|")
    assert [(e.properties["action"], e.properties["at"]) for e in trail] == [
        ("membership.joined", datetime(2026, 11, 2, 9, 0, tzinfo=UTC)), ("membership.left", END)
    ]
    assert upcoming(rt, person_id) == []


def test_the_due_sweep_catches_a_change_whose_scheduled_message_was_lost(rt):
    dynamic(rt)
    person_id = register(rt)
    rt.bus.purge("person-changed")  # the scheduled message is gone
    rt.clock.set(END + timedelta(minutes=3))
    assert sweep_due(rt) == 1
    assert pump_person_changed(rt) == 1
    assert current_groups(rt, person_id) == set()
    assert sweep_due(rt) == 0  # the due entry went with the evaluation


def test_a_future_job_joins_at_its_start_and_upcoming_foresees_it(rt):
    dynamic(rt)
    future = hr_update()
    future["affiliations"][0].update(start="2026-12-01", end=None)
    person_id = register(rt, affiliations=future["affiliations"])
    assert current_groups(rt, person_id) == set()
    [join] = upcoming(rt, person_id)
    assert (join["change"], join["at"]) == ("join", datetime(2026, 11, 30, 23, 0, tzinfo=UTC))
    rt.clock.set(join["at"])
    pump_person_changed(rt)
    assert current_groups(rt, person_id) == {"fin-employees"}


def test_static_membership_with_dates_holds_only_between_them(rt):
    groups.create_group(rt, GroupIn(id="project-x", name="Project X"), "admin")
    person_id = register(rt)
    change = groups.add_member(rt, "project-x", MemberIn(person_id=person_id, start="2026-11-10", end="2026-11-20",
                                                          reason="joins the project"), "apikey:a", {"Groups.Manage"})
    assert change.added == []
    rt.clock.set(datetime(2026, 11, 9, 23, 0, tzinfo=UTC))
    pump_person_changed(rt)
    assert current_groups(rt, person_id) == {"project-x"}
    rt.clock.set(datetime(2026, 11, 20, 23, 0, tzinfo=UTC))
    pump_person_changed(rt)
    assert current_groups(rt, person_id) == set()


def test_composite_groups_follow_their_member_groups(rt):
    dynamic(rt)
    dynamic(rt, "finance-all", 'person.memberOf -any (_ -eq "fin-employees")')
    person_id = register(rt)
    assert current_groups(rt, person_id) == {"fin-employees", "finance-all"}


def test_suspend_immediate_exists_and_only_suspend_managers_change_it(rt):
    assert groups.get_group(rt, "suspend-immediate").policy == "suspend"
    person_id = register(rt)
    with pytest.raises(NotAllowed):
        groups.add_member(rt, "suspend-immediate", MemberIn(person_id=person_id, reason="x"), "a", {"Groups.Manage"})
    assert current_groups(rt, person_id) == set()

    change = groups.add_member(rt, "suspend-immediate", MemberIn(person_id=person_id, reason="laptop stolen"),
                               "entra:officer", {"Suspend.Manage"})
    assert [a["group_id"] for a in change.added] == ["suspend-immediate"]
    trail = list(MembershipRepository(rt.store).table.query(f"person:{person_id}", prefix="audit|"))
    assert any(e.properties["why"] == "laptop stolen" and e.properties["actor"] == "entra:officer" for e in trail)
    with pytest.raises(NotAllowed):
        groups.update_group(rt, "suspend-immediate", GroupIn(name="x"), "admin")
    with pytest.raises(NotAllowed):
        groups.delete_group(rt, "suspend-immediate", "admin")


def test_preview_tells_who_would_join_and_leave_without_saving(rt):
    dynamic(rt)
    fin = register(rt)
    hr = register(rt, source_id="E2", affiliations=[{**hr_update()["affiliations"][0], "organization": "HR"}])
    result = groups.preview(rt, "fin-employees",
                            'person.affiliations -any (affiliation.organization -eq "HR")')
    assert result["evaluated"] == 2
    assert [p["person_id"] for p in result["leave"]] == [fin]
    assert result["join"] == [] and result["leave_count"] == 1
    assert current_groups(rt, hr) == {"fin-employees"}
    assert groups.get_group(rt, "fin-employees").rule == FIN_RULE


def test_a_changed_rule_re_evaluates_everyone_in_batches_through_the_queue(rt):
    dynamic(rt)
    fin = register(rt)
    pump(rt, "group-reevaluation", lambda d: None)  # the creation's batches (nobody yet)
    groups.update_group(rt, "fin-employees", GroupIn(name="FIN", kind="dynamic",
                        rule='person.affiliations -any (affiliation.organization -eq "LAW")'), "admin")
    assert groups.reevaluation_progress(rt, "fin-employees")["batches_done"] == 0
    from shared.models.messages import ReevaluationRef

    pump(rt, "group-reevaluation", lambda d: groups.reevaluate_bucket(
        rt, *ReevaluationRef.model_validate_json(d.body).model_dump().values()))
    progress = groups.reevaluation_progress(rt, "fin-employees")
    assert (progress["batches_done"], progress["persons_done"]) == (256, 1)
    assert progress["finished_at"] is not None
    assert current_groups(rt, fin) == set()


@pytest.mark.parametrize(("rule", "message"), [
    ('person.department -eq "x"', "column"),
    ('person.affiliations -any (affiliation.type -eq "employee"', "column"),
    ('person.givenName -in "Ada"', "column"),
    ('person.givenName -match "(["', "column"),
    ("x" * 100_000, "column"),
])
def test_bad_rules_are_refused_with_the_position(rt, rule, message):
    with pytest.raises(InvalidInput) as error:
        dynamic(rt, rule=rule)
    assert error.value.errors[0].field == "rule"
    assert "line" in error.value.detail and message in error.value.detail
    with pytest.raises(NotFound):
        groups.get_group(rt, "fin-employees")


def test_memberof_cycles_and_self_references_are_refused(rt):
    with pytest.raises(InvalidInput, match="cycle"):
        dynamic(rt, "loop", 'person.memberOf -any (_ -eq "loop")')
    dynamic(rt, "a", 'person.givenName -eq "Ada"')
    dynamic(rt, "b", 'person.memberOf -any (_ -eq "a")')
    with pytest.raises(InvalidInput, match="cycle"):
        groups.update_group(rt, "a", GroupIn(name="a", kind="dynamic", rule='person.memberOf -any (_ -eq "b")'), "x")
    with pytest.raises(InvalidInput, match="unknown"):
        dynamic(rt, "c", 'person.memberOf -any (_ -eq "nowhere")')


def test_member_changes_refused_where_they_make_no_sense(rt):
    dynamic(rt)
    person_id = register(rt)
    with pytest.raises(Conflict):
        groups.add_member(rt, "fin-employees", MemberIn(person_id=person_id, reason="x"), "a", {"Admin"})
    groups.create_group(rt, GroupIn(id="static-one", name="S"), "admin")
    with pytest.raises(PersonNotFound):
        groups.add_member(rt, "static-one", MemberIn(person_id="nobody", reason="x"), "a", {"Admin"})
    with pytest.raises(Exception) as error:
        MemberIn(person_id=person_id, start="2026-12-01", end="2026-11-01", reason="x")
    assert "end is before start" in str(error.value)


def test_the_group_mirror_is_repaired_from_the_person_side(rt):
    dynamic(rt)
    person_id = register(rt)
    repo = MembershipRepository(rt.store)
    repo.table.delete("group:fin-employees", person_id)
    repo.table.upsert(repo._row("group:ghost", person_id, repo.of_person(person_id)[0]))
    assert repo.repair(person_id, ["fin-employees", "ghost"]) == 2
    assert list(repo.mirrored_person_ids("fin-employees")) == [person_id]
    assert list(repo.mirrored_person_ids("ghost")) == []


def test_repairing_a_group_restores_its_member_list_from_the_persons(rt):
    dynamic(rt)
    person_id = register(rt)
    repo = MembershipRepository(rt.store)
    repo.table.delete("group:fin-employees", person_id)
    repo.table.upsert(repo._row("group:fin-employees", "ghost", repo.of_person(person_id)[0]))
    assert list(repo.mirrored_person_ids("fin-employees")) == ["ghost"]
    assert groups.repair_group(rt, "fin-employees")["fixed"] == 2
    assert [m.person_id for m in groups.members(rt, "fin-employees")] == [person_id]


def test_previewing_a_group_that_does_not_exist_is_not_found(rt):
    with pytest.raises(NotFound):
        groups.preview(rt, "nowhere", 'person.givenName -eq "Ada"')


def test_a_bulk_chunk_reads_the_group_rules_once_and_a_later_load_sees_a_changed_rule(rt, monkeypatch):
    from shared.services import bulk
    from shared.store.groups import GroupRepository

    dynamic(rt)
    reads = []
    generation = GroupRepository.generation
    monkeypatch.setattr(GroupRepository, "generation", lambda self: reads.append(1) or generation(self))
    monkeypatch.setattr(bulk, "CHUNK", 3)
    people = [hr_update(source_id=f"B{n}", names={"given": "Ada", "family": f"B{n}"},
                        emails=[{"address": f"b{n}@example.edu", "type": "work"}]) for n in range(6)]
    first = bulk.load(rt, people[:3], "hr")
    assert len(reads) == 1  # one chunk: one look at the rules' generation, not one per record
    assert [current_groups(rt, i["person_id"]) for i in first["items"]] == [{"fin-employees"}] * 3
    groups.update_group(rt, "fin-employees", GroupIn(name="Finance", kind="dynamic", rule=FIN_RULE.replace(
        '"FIN"', '"ENG"')), "admin")  # no longer Finance: the next load must see the new rule
    later = bulk.load(rt, people[3:], "hr")
    assert later["summary"] == {"created": 3}
    assert [current_groups(rt, i["person_id"]) for i in later["items"]] == [set()] * 3
