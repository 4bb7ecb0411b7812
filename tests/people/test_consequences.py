"""Consequences before commitment: the rule preview and a person's upcoming changes list
the provisioning orders that would follow, per target."""

from __future__ import annotations

from shared.services import groups, orders
from shared.services.membership import upcoming
from tests.people.helpers import finance_wiki, hire

HR_ONLY = 'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -eq "HR")'


def test_the_rule_preview_says_which_accounts_would_be_disabled_and_for_whom(rt):
    finance_wiki(rt, on_remove="delete")
    ada = hire(rt, "E1", "Ada", "Lovelace").registration.person.id
    result = groups.preview(rt, "fin-employees", HR_ONLY)
    [leaving] = result["leave"]
    assert leaving["person_id"] == ada
    assert leaving["orders"] == [{"target_id": "wiki", "target": "Wiki", "entitlement": "account",
                                  "action": "delete_account"}]
    assert result["orders"] == {"Wiki": {"delete_account": 1}}


def test_the_preview_of_a_rule_that_changes_nobody_orders_nothing(rt):
    finance_wiki(rt)
    hire(rt, "E1", "Ada", "Lovelace")
    result = groups.preview(rt, "fin-employees", groups.get_group(rt, "fin-employees").rule)
    assert (result["join"], result["leave"], result["orders"]) == ([], [], {})


def test_upcoming_changes_name_the_account_that_will_be_disabled_when_the_job_ends(rt):
    finance_wiki(rt)
    hired = hire(rt, "E1", "Ada", "Lovelace", end="2026-11-30")
    orders.confirm(rt, hired.orders[0].id, "apikey:staff")
    [change] = upcoming(rt, hired.registration.person.id)
    assert (change["group_id"], change["change"]) == ("fin-employees", "leave")
    assert change["orders"] == [{"target_id": "wiki", "target": "Wiki", "entitlement": "account",
                                 "action": "disable_account"}]
