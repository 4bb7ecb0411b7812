"""The worklist says what to type: suggested logins and attributes, the account a removal
concerns, the account id and note staff record on confirmation, and the true access state."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import azure.functions as func
import pytest

from shared.errors import Conflict
from shared.services import orders, reconciliation, targets
from shared.services.membership import evaluate_person
from shared.services.provisioning import evaluate_provisioning
from tests.people.helpers import app_function, finance_wiki, hire

TEMPLATE = {"login": "{given:1}{family}", "attributes": {"displayName": "{given} {family}"}}


def test_each_new_account_is_suggested_a_login_free_of_those_taken_and_of_those_above_it(rt):
    finance_wiki(rt, account_template=TEMPLATE)
    [first] = hire(rt, "E1", "Ada", "Lovelace").orders
    orders.confirm(rt, first.id, "apikey:staff", "made by hand", "alovelace")
    [second] = hire(rt, "E2", "Alan", "Lovelace").orders
    [third] = hire(rt, "E3", "Anna", "Lövelace").orders
    hints = orders.hints(rt, [second, third])
    assert hints[second.id] == {"account": None, "login": "alovelace2", "attributes": {"displayName": "Alan Lovelace"}}
    assert hints[third.id]["login"] == "alovelace3"


def test_a_removal_names_the_account_recorded_when_it_was_created(rt):
    finance_wiki(rt)
    hired = hire(rt, "E1", "Ada", "Lovelace", end="2026-11-05")
    orders.confirm(rt, hired.orders[0].id, "apikey:staff", "ticket 4711", "ada.l")
    person_id = hired.registration.person.id
    rt.clock.set(datetime(2026, 11, 6, 9, 0, tzinfo=UTC))
    evaluate_provisioning(rt, person_id, evaluate_person(rt, person_id, "dated change").cause)
    [disable] = orders.list_orders(rt, "wiki", "Transmitted", None)
    assert disable.action.value == "disable_account"
    assert orders.hints(rt, [disable])[disable.id] == {"account": "ada.l", "login": None, "attributes": {}}


def test_confirmation_keeps_the_account_id_and_note_on_the_assignment(rt):
    finance_wiki(rt)
    hired = hire(rt, "E1", "Ada", "Lovelace")
    confirmed = orders.confirm(rt, hired.orders[0].id, "apikey:staff", "ticket 4711", "ada.l")
    assert (confirmed.external_id, confirmed.history[-1].note) == ("ada.l", "ticket 4711")
    [access] = orders.access(rt, hired.registration.person.id)
    assert (access["account_id"], access["note"], access["state"]) == ("ada.l", "ticket 4711", "active")


def test_an_account_id_held_by_someone_else_in_the_target_is_refused(rt):
    finance_wiki(rt)
    orders.confirm(rt, hire(rt, "E1", "Ada", "Lovelace").orders[0].id, "apikey:staff", "", "ada.l")
    [other] = hire(rt, "E2", "Alan", "Turing").orders
    with pytest.raises(Conflict) as refused:
        orders.confirm(rt, other.id, "apikey:staff", "", "ada.l")
    assert refused.value.errors[0].field == "account_id"
    assert orders.get_order(rt, other.id).state.value == "Transmitted"


def test_an_errored_create_is_shown_as_not_created_rather_than_active(rt):
    finance_wiki(rt)
    hired = hire(rt, "E1", "Ada", "Lovelace")
    person_id = hired.registration.person.id
    assert orders.access(rt, person_id)[0]["state"] == "pending"
    orders.report_error(rt, hired.orders[0].id, "the wiki is down", "apikey:staff")
    [access] = orders.access(rt, person_id)
    assert (access["status"], access["state"], access["state_words"]) == ("active", "failed", "not created (errored)")


def test_reconciliation_recognises_accounts_by_the_id_recorded_on_confirmation(rt):
    finance_wiki(rt)
    [create] = hire(rt, "E1", "Ada", "Lovelace").orders
    orders.confirm(rt, create.id, "apikey:staff", "", "ada.l")
    rows = reconciliation.parse_accounts(b"account,active\nada.l,true\nghost,true\n", "text/csv")
    report = reconciliation.reconcile(rt, "wiki", rows, "apikey:staff")
    assert report["verified"] == [create.id]
    assert report["drift"]["unknown_accounts"] == 1


def test_a_confirmation_without_an_account_id_records_neither_id_nor_note(rt):
    finance_wiki(rt)
    hired = hire(rt, "E1", "Ada", "Lovelace")
    orders.confirm(rt, hired.orders[0].id, "apikey:staff")
    [access] = orders.access(rt, hired.registration.person.id)
    assert (access["account_id"], access["note"], access["state"]) == (None, None, "active")


def test_withdrawing_a_policy_through_the_api_re_provisions_its_members(rt):
    finance_wiki(rt)
    orders.confirm(rt, hire(rt, "E1", "Ada", "Lovelace").orders[0].id, "apikey:staff")
    withdraw = app_function("targets_policy_remove")
    request = func.HttpRequest("DELETE", "http://localhost/api/targets/wiki/policies/fin-employees", body=b"",
                               headers={"authorization": "Bearer admin-key"},
                               route_params={"id": "wiki", "group_id": "fin-employees"})
    response = withdraw(request)
    assert response.status_code == 200 and json.loads(response.get_body())["members_to_provision"] == 1
    assert targets.policies(rt, "wiki") == []
    again = withdraw(request)
    assert again.status_code == 404
