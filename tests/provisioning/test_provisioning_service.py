"""Provisioning scenarios: job end, manual worklist, suspension, supersession, approval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import Conflict, InvalidInput, MalformedBody, NotFound
from shared.models.group import MemberIn
from shared.models.messages import Email, PersonRef
from shared.models.provisioning import OrderState
from shared.services import groups, orders, reconciliation
from shared.services.chain import run_sync
from shared.services.membership import evaluate_person
from shared.services.provisioning import evaluate_provisioning, suspended_by
from tests.factories import add_target, end_job


def states(rt, person_id) -> list[tuple[str, str, str]]:
    return [(o.target_id, o.action.value, o.state.value) for o in orders.list_orders(rt, None, None, person_id)]


def staff_emails(rt) -> list[Email]:
    found = []
    while (d := rt.bus.receive("notification")) is not None:
        found.append(Email.model_validate_json(d.body))
        rt.bus.complete(d)
    return found


def test_a_new_finance_employee_gets_a_wiki_account_on_the_worklist_and_staff_are_told(rt, finance):
    result = finance()
    person_id = result.registration.person.id
    [order] = result.orders
    assert (order.action.value, order.state.value) == ("create_account", "Transmitted")
    assert order.reason.startswith("member of fin-employees: hr update as of")
    assert [o.id for o in orders.list_orders(rt, "wiki", "Transmitted", None)] == [order.id]
    [email] = staff_emails(rt)
    assert email.to == ["identity-desk@example.edu"] and "1 new manual provisioning order for Wiki" == email.subject
    assert evaluate_provisioning(rt, person_id, "replay") == []  # replaying issues nothing new


def test_hr_ends_a_job_and_the_account_is_disabled_confirmed_and_verified(rt, finance):
    hired = finance()
    person_id, [create] = hired.registration.person.id, hired.orders
    orders.confirm(rt, create.id, "apikey:staff")

    run_sync(rt, end_job(), "hr")
    rt.clock.set(datetime(2026, 11, 5, 23, 0, tzinfo=UTC))  # Nov 5 is the last day in Brussels
    evaluate_provisioning(rt, person_id, evaluate_person(rt, person_id, "dated change").cause)
    [disable] = [o for o in orders.list_orders(rt, "wiki", "Transmitted", None)]
    assert disable.action.value == "disable_account" and "no longer granted" in disable.reason
    assert disable.reason.endswith("dated change")

    [result] = orders.bulk(rt, "confirm", [disable.id], "apikey:staff")
    assert result == {"id": disable.id, "ok": True, "state": "Executed"}
    report = reconciliation.reconcile(rt, "wiki", reconciliation.parse_accounts(
        f"person_id,active\n{person_id},false\n".encode(), "text/csv"), "apikey:staff")
    assert report["verified"] == [disable.id]  # the account exists, disabled: the create stays Executed
    assert orders.get_order(rt, disable.id).state == OrderState.verified
    history = [e.state.value for e in orders.get_order(rt, disable.id).history]
    assert history == ["Pending", "Transmitted", "Executed", "Verified"]


def test_an_order_superseded_before_it_was_carried_out_becomes_inactive(rt, finance):
    hired = finance()
    person_id, [create] = hired.registration.person.id, hired.orders
    run_sync(rt, end_job(on="2026-11-01"), "hr")  # ended already: leaves at once
    assert orders.get_order(rt, create.id).state == OrderState.inactive
    assert states(rt, person_id) == [("wiki", "create_account", "Inactive")]
    assert [a["status"] for a in orders.access(rt, person_id)] == ["removed"]


def test_suspension_suspends_every_account_in_the_call_and_refuses_new_grants(rt, finance):
    hired = finance()
    person_id = hired.registration.person.id
    orders.confirm(rt, hired.orders[0].id, "staff")
    groups.create_group(rt, groups.GroupIn(id="vpn-users", name="VPN"), "admin")
    add_target(rt, "vpn", "vpn-users")

    change = groups.add_member(rt, "suspend-immediate", MemberIn(person_id=person_id, reason="stolen laptop"),
                               "entra:officer", {"Suspend.Manage"})
    from shared.services.chain import after_group_change

    follow = after_group_change(rt, change)
    assert [(o.action.value, o.target_id) for o in follow["orders"]] == [("suspend", "wiki")]
    assert suspended_by(rt, person_id) == "suspend-immediate"

    granted = groups.add_member(rt, "vpn-users", MemberIn(person_id=person_id, reason="needs VPN"), "admin",
                                {"Groups.Manage"})
    assert after_group_change(rt, granted)["orders"] == []  # nothing new while suspended

    orders.confirm(rt, follow["orders"][0].id, "staff")  # carried out, so lifting needs a restore
    lifted = groups.remove_member(rt, "suspend-immediate", person_id, "laptop found", "entra:officer",
                                  {"Suspend.Manage"})
    restored = after_group_change(rt, lifted)["orders"]
    assert sorted((o.action.value, o.target_id) for o in restored) == [("create_account", "vpn"), ("restore", "wiki")]


def test_a_suspension_lifted_before_it_was_carried_out_leaves_the_suspend_order_inactive(rt, finance):
    from shared.services.chain import after_group_change

    hired = finance()
    person_id = hired.registration.person.id
    orders.confirm(rt, hired.orders[0].id, "staff")
    member = MemberIn(person_id=person_id, reason="false alarm?")
    [suspend] = after_group_change(rt, groups.add_member(rt, "suspend-immediate", member, "o", {"Admin"}))["orders"]
    lifted = groups.remove_member(rt, "suspend-immediate", person_id, "false alarm", "o", {"Admin"})
    assert after_group_change(rt, lifted)["orders"] == []
    assert orders.get_order(rt, suspend.id).state == OrderState.inactive
    assert [a["status"] for a in orders.access(rt, person_id)] == ["active"]


def test_approval_always_holds_orders_until_approved(rt, finance):
    add_target(rt, "payroll", "fin-employees", approval="always")
    hired = finance()
    held = [o for o in hired.orders if o.target_id == "payroll"]
    assert [o.state.value for o in held] == ["AwaitingApproval"]
    approved = orders.approve(rt, held[0].id, "apikey:lead")
    assert approved.state == OrderState.transmitted
    with pytest.raises(Conflict) as again:
        orders.approve(rt, held[0].id, "apikey:lead")
    assert again.value.extra["current_state"] == "Transmitted"


def test_the_mass_change_guard_holds_removals_over_the_threshold_until_approved(rt, finance):
    rt.store.table("targets").delete("targets", "wiki")
    add_target(rt, "wiki", approval="threshold", threshold={"max_percent": 10, "min_size": 2})
    people = [finance(source_id=f"E{n}") for n in range(4)]
    for hired in people:
        orders.confirm(rt, hired.orders[0].id, "staff")
    for n in range(4):
        run_sync(rt, end_job(on="2026-11-01", source_id=f"E{n}"), "hr")
    removals = [o for h in people for o in orders.list_orders(rt, "wiki", None, h.registration.person.id)
                if o.action.value == "disable_account"]
    assert [o.state.value for o in removals] == ["Transmitted", "Transmitted", "AwaitingApproval", "AwaitingApproval"]
    approved = orders.bulk(rt, "approve", [o.id for o in removals], "apikey:lead")
    assert [(r["ok"], r.get("state")) for r in approved] == [(False, None), (False, None),
                                                             (True, "Transmitted"), (True, "Transmitted")]


def test_confirming_an_order_that_is_not_on_the_worklist_is_a_409_with_its_state(rt, finance):
    [create] = finance().orders
    orders.confirm(rt, create.id, "staff")
    with pytest.raises(Conflict) as error:
        orders.confirm(rt, create.id, "staff")
    assert error.value.status == 409 and error.value.extra["current_state"] == "Executed"


def test_bulk_reports_per_id_and_lets_valid_ones_proceed(rt, finance):
    [create] = finance().orders
    results = orders.bulk(rt, "confirm", [create.id, "nope", "x.y"], "staff")
    assert results[0] == {"id": create.id, "ok": True, "state": "Executed"}
    assert [(r["ok"], r["status"]) for r in results[1:]] == [(False, 404), (False, 404)]


def test_reconciliation_data_that_does_not_parse_is_a_400_and_changes_nothing(rt, finance):
    [create] = finance().orders
    orders.confirm(rt, create.id, "staff")
    for body, kind in [(b"{not json", "application/json"), (b'{"accounts": "x"}', "application/json"),
                       (b"name,when\nx,y\n", "text/csv"), (b'{"accounts": [{"active": "maybe"}]}', "application/json")]:
        with pytest.raises(MalformedBody):
            reconciliation.parse_accounts(body, kind)
    assert orders.get_order(rt, create.id).state == OrderState.executed


def test_reconciliation_reports_drift_and_can_turn_it_into_orders(rt, finance):
    hired = finance()
    person_id = hired.registration.person.id
    orders.confirm(rt, hired.orders[0].id, "staff")
    stranger = finance(source_id="E2", affiliations=[]).registration.person.id  # no group, no account
    data = reconciliation.parse_accounts(
        f'{{"accounts": [{{"person_id": "{stranger}"}}]}}'.encode(), "application/json")
    report = reconciliation.reconcile(rt, "wiki", data, "staff", create_orders=True)
    assert report["drift"]["unexpected"] == [{"person_id": stranger, "entitlement": "account"}]
    assert report["drift"]["missing"] == [{"person_id": person_id, "entitlement": "account"}]
    created = {orders.get_order(rt, i).action.value for i in report["orders"]}
    assert created == {"disable_account", "create_account"}


def test_unknown_targets_and_persons_are_404s(rt, finance):
    with pytest.raises(NotFound):
        reconciliation.reconcile(rt, "nowhere", [], "staff")
    with pytest.raises(NotFound):
        evaluate_provisioning(rt, "nobody", "x")
    with pytest.raises(InvalidInput):
        orders.list_orders(rt, None, "Sideways", None)


def test_group_update_events_are_harmless_to_replay(rt, finance):
    hired = finance()
    person_id = hired.registration.person.id
    ref = PersonRef(person_id=person_id, cause="replayed")
    assert evaluate_provisioning(rt, ref.person_id, ref.cause) == []
    assert len(states(rt, person_id)) == 1


def test_a_target_that_deletes_on_removal_gets_delete_account(rt, finance):
    rt.store.table("targets").delete("targets", "wiki")
    add_target(rt, "wiki", on_remove="delete")
    hired = finance()
    orders.confirm(rt, hired.orders[0].id, "staff")
    left = run_sync(rt, end_job(on="2026-11-01"), "hr")
    assert [(o.action.value, o.state.value) for o in left.orders] == [("delete_account", "Transmitted")]


def test_every_staff_action_on_an_order_is_audited_with_who_and_what(rt, finance):
    from shared.store.audit import audit_trail
    from shared.store.orders import OrderRepository

    add_target(rt, "payroll", "fin-employees", approval="always")
    hired = finance()
    wiki, payroll = sorted(hired.orders, key=lambda o: o.target_id != "wiki")
    for act in (lambda: orders.report_error(rt, wiki.id, "the wiki was down", "apikey:staff"),
                lambda: orders.retry(rt, wiki.id, "apikey:staff"),
                lambda: orders.confirm(rt, wiki.id, "apikey:staff"),
                lambda: orders.approve(rt, payroll.id, "apikey:lead")):
        rt.clock.advance(timedelta(minutes=1))
        act()
    trail = [r for r in audit_trail(OrderRepository(rt.store).table, f"person:{hired.registration.person.id}")
             if r["action"] in ("order.Errored", "order.Pending", "order.Executed")]
    assert [(r["action"], r["actor"], r["why"]) for r in trail] == [
        ("order.Errored", "apikey:staff", "the wiki was down"),
        ("order.Pending", "apikey:staff", "retry"),
        ("order.Executed", "apikey:staff", "carried out by hand"),
        ("order.Pending", "apikey:lead", "approved"),
    ]
