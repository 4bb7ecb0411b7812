"""Routes through services: targets and policies (audited), one eligibility answer and one
person search for the API and the console."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.errors import Conflict, InvalidInput, NotFound
from shared.models.group import MemberIn
from shared.models.provisioning import Policy, Target
from shared.services import eligibility, groups, search, targets
from shared.store.audit import audit_trail
from shared.store.targets import TARGETS
from tests.helpers.app import http, payload
from tests.helpers.console import text


def trail(rt, partition: str) -> list[tuple[str, str, str]]:
    return [(r["action"], r["actor"], r["why"]) for r in audit_trail(rt.store.table("targets"), partition)]


def test_registering_and_changing_a_target_is_audited_and_a_taken_id_is_a_409(rt, clock):
    targets.create_target(rt, Target(id="wiki", name="Wiki"), "entra:admin")
    clock.advance(timedelta(minutes=1))
    targets.update_target(rt, "wiki", {"name": "Team wiki", "on_remove": "delete"}, "entra:admin")

    with pytest.raises(Conflict):
        targets.create_target(rt, Target(id="wiki", name="Another"), "entra:admin")
    assert targets.get_target(rt, "wiki").name == "Team wiki"
    assert [t.id for t in targets.list_targets(rt)] == ["wiki"]  # audit rows are not targets
    assert trail(rt, TARGETS) == [("target.created", "entra:admin", "created wiki"),
                                  ("target.updated", "entra:admin", "updated wiki")]


def test_an_update_whose_body_names_another_target_changes_nothing(rt):
    targets.create_target(rt, Target(id="wiki", name="Wiki"), "admin")
    with pytest.raises(InvalidInput) as refused:
        targets.update_target(rt, "wiki", {"id": "other", "name": "Other"}, "admin")
    assert refused.value.errors[0].field == "id"
    assert targets.get_target(rt, "wiki").name == "Wiki" and len(trail(rt, TARGETS)) == 1
    with pytest.raises(NotFound):
        targets.update_target(rt, "nope", {"name": "Nope"}, "admin")


def test_a_policy_for_a_known_group_is_audited_and_an_unknown_group_is_a_422(rt, finance):
    finance()  # fin-employees grants wiki accounts; Ada is a member
    targets.create_target(rt, Target(id="payroll", name="Payroll"), "admin")
    _, announced = targets.add_policy(rt, "payroll", Policy(group_id="fin-employees"), "entra:admin")
    with pytest.raises(InvalidInput) as refused:
        targets.add_policy(rt, "payroll", Policy(group_id="no-such-group"), "entra:admin")

    assert announced == 1 and refused.value.errors[0].field == "group_id"
    assert targets.target_with_policies(rt, "payroll")["policies"] == [Policy(group_id="fin-employees")]
    assert trail(rt, "policy:payroll") == [("policy.added", "entra:admin", "policy payroll/account added")]


def test_the_api_and_the_request_desk_give_one_eligibility_answer(rt, functions, finance):
    person_id = finance().registration.person.id
    member = MemberIn(person_id=person_id, reason="investigation")
    groups.add_member(rt, "suspend-immediate", member, "entra:officer", {"Suspend.Manage"})

    answer = payload(functions["persons_eligibility"](http("GET", f"persons/{person_id}/eligibility",
                                                             route={"id": person_id})))
    assert answer == eligibility.eligibility(rt, person_id).as_dict() == {
        "can_request": False, "can_recover": False, "reason": "suspended: a member of suspend-immediate"}
    missing = functions["persons_eligibility"](http("GET", "persons/nobody/eligibility", route={"id": "nobody"}))
    assert missing.status_code == 404


def test_the_api_and_the_console_find_a_person_by_source_colon_id_alike(rt, functions, browser, finance):
    person_id = finance().registration.person.id
    api = payload(functions["persons_search"](http("GET", "persons", key="reader-key", params={"q": "hr:E1001"})))
    page = browser("reader-key").get("console_persons", "persons", params={"q": "hr:E1001"})

    assert [p["id"] for p in api["items"]] == [p.id for p in search.find_persons(rt, q="hr:E1001")] == [person_id]
    assert "Lovelace" in text(page)


def test_a_source_without_its_source_id_is_a_422_naming_the_missing_field_in_both(rt, functions, browser):
    api = functions["persons_search"](http("GET", "persons", key="reader-key", params={"source": "hr"}))
    page = browser("reader-key").get("console_persons", "persons", params={"source": "hr"})

    assert api.status_code == page.status_code == 422
    assert payload(api)["errors"] == [{"field": "source_id", "message": "required with the other"}]
    assert "required with the other" in text(page).lower()
