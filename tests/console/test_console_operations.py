"""The console's Operations page (Admin) through its functions: the figures and the day-one
verdict, dead letters paged with the API's token and replayed (audited), a sweep run now;
other roles get the 403 page, a forged token the 400 page, an unknown dead letter the 404
page (docs/console.md)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.services import operations
from shared.store.audit import audit_trail
from tests.helpers.console import location, text
from tests.helpers.lists import bus_dead_letters
from tests.people.helpers import finance_wiki, hire


def flash(response) -> str:
    return parse_qs(urlsplit(location(response)).query)["flash"][0]


def next_link(response) -> str | None:
    found = re.search(r'href="([^"]*next=[^"]*)">Next page</a>', response.get_body().decode())
    return None if found is None else parse_qs(urlsplit(unescape(found.group(1))).query)["next"][0]


def test_an_administrator_sees_the_figures_and_whether_day_one_has_finished(rt, browser):
    finance_wiki(rt)
    for n in range(3):
        hire(rt, f"E{n}", "Ada", f"Lovelace{n}")
    bus_dead_letters(rt, "person-changed", 1)

    response = browser("admin-key").get("console_operations", "operations")

    words = text(response)
    assert response.status_code == 200
    assert "Has day one finished? not finished Not yet" in words and "Dead letters on the bus: 1" in words
    assert "Orders waiting on staff (worklists and approvals): 3" in words
    assert re.search(r"Wiki \(manual\)( 0){2} 3( 0){4}", words)  # AwaitingApproval, Pending, Transmitted, …
    assert "person-changed 0 3 1 0" in words  # waiting, scheduled (the dated ends), dead letters, refused
    assert "Messages waiting in the queues: 4" in words  # nothing pumps the queues here: the group's fan-out, emails
    assert "Dead letters of person-changed : on the bus" in words and "dl-0000 MaxDeliveryCountExceeded" in words
    assert "The sweep has not run yet." in words


@pytest.mark.parametrize("key", ["staff-key", "reader-key", "desk-key"])
def test_other_roles_get_the_403_page(rt, browser, key):
    bus_dead_letters(rt, "person-changed", 1)
    viewer = browser(key)

    assert viewer.get("console_operations", "operations").status_code == 403
    refused = viewer.post("console_operations_replay", "operations/replay",
                          {"queue": "person-changed", "message_id": "dl-0000"})
    assert refused.status_code == 403 and len(rt.bus.dead_letters(rt.settings.queue("person-changed"))) == 1
    assert viewer.post("console_operations_sweep", "operations/sweep").status_code == 403


def test_dead_letters_page_through_each_once_and_a_forged_token_is_the_400_page(rt, browser):
    ids = bus_dead_letters(rt, "group-update", 45)
    admin, shown, params = browser("admin-key"), [], {"queue": "group-update", "kind": "bus"}
    while True:
        response = admin.get("console_operations", "operations", params=params)
        shown += re.findall(r'name="message_id" value="([^"]+)"', response.get_body().decode())
        token = next_link(response)
        if token is None:
            break
        params = {**params, "next": token}
    assert shown == ids

    forged = admin.get("console_operations", "operations", params={**params, "next": "forged"})
    other = admin.get("console_operations", "operations", params={**params, "kind": "refused"})
    assert forged.status_code == 400 and "next" in text(forged)
    assert other.status_code == 400  # a token of the bus's list is not one of the refused list


def test_an_unknown_queue_or_list_is_the_422_page_naming_it(rt, browser):
    admin = browser("admin-key")
    for params, field in (({"queue": "nope"}, "queue"), ({"queue": "person-update", "kind": "all"}, "kind")):
        response = admin.get("console_operations", "operations", params=params)
        assert response.status_code == 422 and f"{field} : one of" in text(response)


def test_a_replay_sends_the_dead_letter_back_audited_and_an_unknown_one_is_the_404_page(rt, browser):
    [message_id] = bus_dead_letters(rt, "person-changed", 1)
    admin, form = browser("admin-key"), {"queue": "person-changed", "message_id": message_id}

    done = admin.post("console_operations_replay", "operations/replay", form)
    again = admin.post("console_operations_replay", "operations/replay", form)

    assert flash(done) == f"Replayed {message_id} on person-changed: the message is back in its queue."
    assert urlsplit(location(done)).path == "/api/console/operations"
    assert again.status_code == 404 and f"No dead letter '{message_id}' on person-changed" in text(again)
    queue = rt.settings.queue("person-changed")
    assert rt.bus.dead_letters(queue) == [] and rt.bus.receive(queue).message_id.startswith("replay:")
    [audit] = operations.chain_view(rt)["replays"]
    assert (audit["action"], audit["details"]["message_id"]) == ("deadletter.replayed", message_id)
    page = text(admin.get("console_operations", "operations", params={"queue": "person-changed"}))
    assert message_id not in page.split("Dead letters of")[1].split("Orders by state")[0]


def test_a_replay_without_the_forms_token_is_refused(rt, browser):
    [message_id] = bus_dead_letters(rt, "person-changed", 1)
    refused = browser("admin-key").post("console_operations_replay", "operations/replay",
                                        {"queue": "person-changed", "message_id": message_id}, csrf="stale")
    assert refused.status_code == 403 and len(rt.bus.dead_letters(rt.settings.queue("person-changed"))) == 1


def test_run_sweep_now_checks_a_batch_shows_its_figures_and_is_audited(rt, browser):
    finance_wiki(rt)
    hire(rt, "E1", "Ada", "Lovelace")
    admin = browser("admin-key")

    done = admin.post("console_operations_sweep", "operations/sweep")

    assert flash(done) == "Sweep ran: 1 persons checked; repairs: none."
    [record] = audit_trail(rt.store.table("ops"), operations.SWEEPS)
    assert record["action"] == "sweep.run" and record["details"]["persons_checked"] == 1
    words = text(admin.get("console_operations", "operations"))
    assert "Persons checked 1" in words and "Repairs none" in words
