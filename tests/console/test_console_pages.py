"""Each console page shows the data, escaped; each form changes it through the services."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

import pytest

from shared.models.group import GroupIn
from shared.models.person import PersonUpdate
from shared.models.provisioning import OrderState, Policy, Target
from shared.models.request import RequestSubmission
from shared.services import groups, orders, requests
from shared.services.chain import run_sync
from shared.store.targets import TargetRepository
from tests.factories import FIN_RULE
from tests.helpers.console import html, location, text
from tests.helpers.desk import deliver, form


def affiliation(key: str, type_: str, org: str, start: str, end: str | None = None, title: str | None = None) -> dict:
    return {"key": key, "type": type_, "organization": org, "start": start, "end": end, "title": title}


def register(rt, source_id: str, given: str, family: str, *affiliations: dict) -> str:
    update = PersonUpdate.model_validate({
        "source": "hr", "source_id": source_id, "as_of": min(rt.clock.now(), datetime(2026, 11, 1, 8, tzinfo=UTC)),
        "names": {"given": given, "family": family},
        "emails": [{"address": f"{source_id.lower()}@example.edu"}],
        "affiliations": list(affiliations) or [affiliation("job-1", "employee", "FIN", "2024-01-01", "2026-11-30")],
    })  # fmt: skip
    return run_sync(rt, update, "source:hr").registration.person.id


@pytest.fixture
def finance(rt):
    """A manual target whose accounts go to the Finance group (rule-based)."""
    groups.create_group(rt, GroupIn(id="fin-employees", name="Finance", kind="dynamic", rule=FIN_RULE), "admin")
    TargetRepository(rt.store).save(Target(id="wiki", name="Team wiki"))
    TargetRepository(rt.store).add_policy("wiki", Policy(group_id="fin-employees"))


# -- persons ------------------------------------------------------------------------------


def test_a_person_page_shows_affiliations_groups_with_reasons_access_upcoming_and_the_trail(rt, browser, finance):
    person_id = register(
        rt, "E1", "Ada", "Lovelace",
        affiliation("school", "student", "MATH", "2019-09-01", "2022-06-30"),
        affiliation("job-1", "employee", "FIN", "2024-01-01", "2026-11-30", "Analyst"),
        affiliation("chair", "faculty", "CS", "2027-01-01"),
    )  # fmt: skip
    response = browser("reader-key").get("console_person", f"persons/{person_id}", route={"id": person_id})
    assert response.status_code == 200
    page = text(response)
    assert "Ada Lovelace active" in page
    assert "Current (1) Type Organization Title Source Start End employee FIN Analyst hr 2024-01-01 2026-11-30" in page
    assert "Future (1)" in page and "faculty CS — hr 2027-01-01 open" in page
    assert "Past (1)" in page and "student MATH" in page
    assert re.search(r"Finance fin-employees by rule active .*employee", page)
    assert "wiki account being created — create_account Transmitted" in page  # not active before it is done
    assert "2026-12-01 00:00 CET Finance leaves" in page
    assert "person.created by source:hr" in page and "membership.joined" in page
    body = html(response)
    assert '<span class="badge badge-info">Transmitted</span>' in body
    assert '<th scope="col">Target</th>' in body


def test_a_name_with_markup_is_shown_as_text_everywhere(rt, browser):
    person_id = register(rt, "E666", "<script>alert(1)</script>", "O'Brien & <b>Sons</b>")
    reader = browser("reader-key")
    found = reader.get("console_persons", "persons", params={"q": "script"})
    page = html(reader.get("console_person", f"persons/{person_id}", route={"id": person_id}))
    for body in (html(found), page):
        assert "<script>alert(1)</script>" not in body and "<b>Sons</b>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        assert "O&#39;Brien &amp; &lt;b&gt;Sons&lt;/b&gt;" in body


def test_search_by_text_by_identifier_and_a_query_too_short(rt, browser):
    person_id = register(rt, "E1001", "Grace", "Hopper")
    reader = browser("reader-key")
    assert "Grace Hopper" in text(reader.get("console_persons", "persons", params={"q": "hop"}))
    assert "1 person found" in text(reader.get("console_persons", "persons", params={"q": "hr:E1001"}))
    exact = reader.get("console_persons", "persons", params={"source": "hr", "source_id": "E1001"})
    assert location(exact) == f"/api/console/persons/{person_id}"
    assert "0 persons found" in text(reader.get("console_persons", "persons", params={"q": "nobody"}))
    short = reader.get("console_persons", "persons", params={"q": "x"})
    assert short.status_code == 422
    assert 'aria-describedby="q-help q-error"' in html(short) and "at least one word" in text(short)
    half = reader.get("console_persons", "persons", params={"source": "hr"})
    assert half.status_code == 422 and 'id="source_id-error"' in html(half)


def test_an_unknown_person_is_a_404_page(browser, rt):
    response = browser("reader-key").get("console_person", "persons/nope", route={"id": "nope"})
    assert response.status_code == 404
    assert "No person with id 'nope'." in text(response)


# -- provisioning -------------------------------------------------------------------------


def test_the_worklist_confirms_in_bulk_and_says_what_could_not_be(rt, browser, finance):
    names = {register(rt, f"E{n}", given, "Turing") for n, given in enumerate(("Alan", "Ethel"))}
    staff = browser("staff-key")
    response = staff.get("console_worklist", "worklist", params={"target": "wiki"})
    page = text(response)
    assert "2 orders to do by hand for Team wiki" in page
    assert "Alan Turing" in page and "Ethel Turing" in page
    body = html(response)
    assert 'id="bulk" method="post" action="/api/console/orders/confirm"' in body
    ids = re.findall(r'name="ids" value="([^"]+)" form="bulk"', body)
    assert len(ids) == 2 and 'id="select-all"' in body

    done = staff.post("console_orders_confirm", "orders/confirm",
                      [("ids", ids[0]), ("ids", ids[1]), ("ids", "nobody.x"), ("back", "/api/console/worklist?target=wiki")])
    back = location(done)
    assert back.startswith("/api/console/worklist?target=wiki&flash=2+orders+confirmed.+1+not%3A+an+order+that+does+not+exist")
    assert "flash_kind=error" in back
    again = staff.post("console_orders_confirm", "orders/confirm", [("ids", ids[0])])
    assert "1+not%3A+Alan+Turing+%28create_account+in+wiki%29+is+Executed" in location(again) \
        or "1+not%3A+Ethel+Turing+%28create_account+in+wiki%29+is+Executed" in location(again)  # names, not ids
    assert {orders.get_order(rt, i).state for i in ids} == {OrderState.executed}
    assert "Nothing here" in text(staff.get("console_worklist", "worklist", params={"target": "wiki"}))
    assert names


def test_an_error_is_reported_with_its_message_and_the_order_can_be_retried(rt, browser, finance):
    register(rt, "E1", "Alan", "Turing")
    [order] = orders.list_orders(rt, "wiki", "Transmitted", None)
    staff = browser("staff-key")
    nothing = staff.post("console_order_error", f"orders/{order.id}/error", {"message": " "}, route={"id": order.id})
    assert "Say+what+went+wrong" in location(nothing)
    reported = staff.post("console_order_error", f"orders/{order.id}/error", {"message": "no licence left"},
                          route={"id": order.id})
    assert "Errored" in location(reported)
    assert orders.get_order(rt, order.id).error == "no licence left"
    errored = text(staff.get("console_worklist", "worklist", params={"state": "Errored"}))
    assert "no licence left" in errored and "Retry" in errored
    again = staff.post("console_order_error", f"orders/{order.id}/error", {"message": "twice"}, route={"id": order.id})
    assert "Not+reported" in location(again) and "flash_kind=error" in location(again)
    staff.post("console_order_retry", f"orders/{order.id}/retry", route={"id": order.id})
    assert orders.get_order(rt, order.id).state == OrderState.transmitted


def test_the_approval_queue_approves_in_bulk(rt, browser):
    groups.create_group(rt, GroupIn(id="fin-employees", name="Finance", kind="dynamic", rule=FIN_RULE), "admin")
    TargetRepository(rt.store).save(Target(id="payroll", name="Payroll", approval="always"))
    TargetRepository(rt.store).add_policy("payroll", Policy(group_id="fin-employees"))
    register(rt, "E1", "Alan", "Turing")
    staff = browser("staff-key")
    body = html(staff.get("console_worklist", "worklist", params={"state": "AwaitingApproval"}))
    assert 'action="/api/console/orders/approve"' in body and "Approve selected" in body
    [order_id] = re.findall(r'name="ids" value="([^"]+)" form="bulk"', body)
    approved = staff.post("console_orders_approve", "orders/approve", {"ids": order_id})
    assert "1+order+approved." in location(approved)
    assert orders.get_order(rt, order_id).state == OrderState.transmitted


def test_a_reader_sees_the_worklist_without_the_actions(rt, browser, finance):
    register(rt, "E1", "Alan", "Turing")
    reader = browser("reader-key")
    body = html(reader.get("console_worklist", "worklist"))
    assert "Alan Turing" in body and 'id="bulk"' not in body and ">Confirm<" not in body
    refused = reader.post("console_orders_confirm", "orders/confirm", {"ids": "x"})
    assert refused.status_code == 403
    assert browser("staff-key").get("console_worklist", "worklist", params={"state": "Executed"}).status_code == 422


# -- requests -----------------------------------------------------------------------------


@pytest.fixture
def request_number(rt, wiki) -> str:
    submission = RequestSubmission.model_validate(form())
    return requests.submit(rt, submission, "flow").request.number


def test_the_board_shows_requests_by_state(rt, browser, request_number):
    page = text(browser("desk-key").get("console_requests", "requests"))
    assert re.search(r"New 1 REQ-000001 invite · wiki Grace Hopper No owner", page)
    assert "InPlanning 0 None." in page


def test_triage_a_request_with_an_owner_a_comment_mentioning_the_client_and_a_task(rt, browser, request_number):
    desk = browser("desk-key")
    route = {"number": request_number}
    page = html(desk.get("console_request", f"requests/{request_number}", route=route))
    assert '<option value="InPlanning">InPlanning</option>' in page and '<option value="Done">' not in page

    moved = desk.post("console_request_change", f"requests/{request_number}",
                      {"state": "InPlanning", "owner": "margaret@example.edu", "note": ""}, route=route)
    assert location(moved) == ("/api/console/requests/REQ-000001?flash=Saved%3A+REQ-000001+is+InPlanning%2C+"
                               "owner+margaret%40example.edu.")
    said = desk.post("console_request_comment", f"requests/{request_number}/comments",
                     {"text": "@grace.hopper@example.edu do both start on Monday?"}, route=route)
    assert "Emailed%3A+grace.hopper%40example.edu" in location(said)
    task = desk.post("console_request_task", f"requests/{request_number}/tasks",
                     {"title": "Invite both", "assignee": "linus@example.edu", "create_orders": "true"}, route=route)
    assert "Task+added+with+2+orders" in location(task)
    deliver(rt)

    response = desk.get("console_request", f"requests/{request_number}", route=route)
    page = text(response)
    assert "REQ-000001 InPlanning" in page
    assert "@grace.hopper@example.edu do both start on Monday?" in page
    assert "Invite both linus@example.edu Open Transmitted Transmitted" in page
    assert "REQ-000001: you were mentioned in a comment" in page
    assert "REQ-000001: your request is being planned" in page and "Emails sent (7)" in page
    assert "REQ-000001: 2 new manual provisioning orders for Team wiki" in page  # one digest, not one per order
    assert "Moved from New to In Planning by Holly; owner set to margaret@example.edu" in page
    assert '<strong class="mention">@grace.hopper@example.edu</strong>' in html(response)

    [task_id] = re.findall(r"/tasks/([0-9a-f]+)/complete", html(response))
    early = desk.post("console_request_task_complete", f"requests/{request_number}/tasks/{task_id}/complete",
                      route={**route, "id": task_id})
    refusal = text(early)
    assert early.status_code == 409 and "“Invite both” cannot be completed yet: 2 of its 2 worklist orders" in refusal
    assert "alan.turing@example.edu is Transmitted" in refusal and "ext-" not in refusal  # no internal order ids


def test_refused_triage_keeps_what_was_typed_beside_the_field(rt, browser, request_number):
    desk, route = browser("desk-key"), {"number": request_number}
    bad = desk.post("console_request_comment", f"requests/{request_number}/comments",
                    {"text": "ask @ada@nowhere about <it>"}, route=route)
    assert bad.status_code == 422
    body = html(bad)
    assert 'aria-describedby="text-help text-error" aria-invalid="true">ask @ada@nowhere about &lt;it&gt;</textarea>' in body
    assert 'id="text-error">@ada@nowhere is not a valid email address' in body
    jump = desk.post("console_request_change", f"requests/{request_number}", {"state": "Done", "owner": ""}, route=route)
    assert jump.status_code == 409 and "cannot go from New to Done" in text(jump)
    owner = desk.post("console_request_change", f"requests/{request_number}", {"owner": "not an email"}, route=route)
    assert owner.status_code == 422 and 'id="owner-error"' in html(owner)
    assert 'value="not an email"' in html(owner)


def test_emails_are_not_listed_when_the_mailer_is_not_the_outbox(rt, browser, request_number, monkeypatch):
    monkeypatch.setitem(rt.__dict__, "mail", object())
    page = text(browser("desk-key").get("console_request", f"requests/{request_number}", route={"number": request_number}))
    assert "The mailer is not the outbox" in page


def test_an_unknown_request_is_a_404_page(rt, browser):
    response = browser("desk-key").get("console_request", "requests/REQ-999999", route={"number": "REQ-999999"})
    assert response.status_code == 404


# -- groups -------------------------------------------------------------------------------


BROKEN = 'person.affiliations -any (affiliation.type -eq "employee"\n  -and affiliation.organization -in ["FIN" "HR"])'
HR_ONLY = 'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -eq "HR")'


def test_groups_are_listed_with_their_rules(rt, browser, finance):
    page = text(browser("reader-key").get("console_groups", "groups"))
    assert "Finance fin-employees dynamic — Team wiki person.affiliations -any" in page  # what it provisions
    assert "Suspend immediately suspend-immediate static suspend" in page


def test_the_rule_editor_shows_a_syntax_error_in_place_with_a_caret(rt, browser, finance):
    editor = browser("groups-key")
    route = {"id": "fin-employees"}
    response = editor.post("console_group_preview", "groups/fin-employees/preview",
                           {"rule": BROKEN.replace("\n", "\r\n"), "version": "1"}, route=route)
    assert response.status_code == 422
    body = html(response)
    assert 'aria-describedby="rule-help rule-error" aria-invalid="true">' + BROKEN.replace('"', "&#34;") in body
    assert "Line 2, column 44: unexpected &#34;HR&#34;: expected , or ]" in body
    caret = re.search(r'<pre class="caret" aria-hidden="true">(.*?)</pre>', body, re.S).group(1)
    line, mark = unescape(caret).split("\n")
    assert line.strip().startswith("-and affiliation.organization") and mark.index("^") == line.index('"HR')
    assert "Preview: if this rule were saved now" not in text(response)


def test_preview_then_save_a_rule(rt, browser, finance):
    ada = register(rt, "E1", "Ada", "Lovelace")
    register(rt, "E2", "Henry", "Ford", affiliation("job", "employee", "HR", "2024-01-01"))
    editor, route = browser("groups-key"), {"id": "fin-employees"}
    shown = editor.post("console_group_preview", "groups/fin-employees/preview",
                        {"rule": HR_ONLY, "version": "1"}, route=route)
    assert shown.status_code == 200
    page = text(shown)
    assert "0 would join and 1 would leave, of 2 persons evaluated" in page
    assert "Would leave (1) Person Orders Ada Lovelace disable_account in Team wiki" in page
    assert "Orders that would follow Team wiki : 1 disable_account" in page
    fingerprint = re.search(r'name="previewed" value="([0-9a-f]+)"', html(shown)).group(1)

    unpreviewed = editor.post("console_group_save", "groups/fin-employees",
                              {"rule": HR_ONLY + " -or person.id -eq \"x\"", "version": "1", "previewed": fingerprint},
                              route=route)
    assert unpreviewed.status_code == 200 and "Check who would join and who would leave, then save." in text(unpreviewed)
    assert groups.get_group(rt, "fin-employees").rule == FIN_RULE

    saved = editor.post("console_group_save", "groups/fin-employees",
                        {"rule": HR_ONLY, "version": "1", "previewed": fingerprint}, route=route)
    assert location(saved).startswith("/api/console/groups/fin-employees?flash=Saved%3A+version+2")
    group = groups.get_group(rt, "fin-employees")
    assert (group.rule, group.version) == (HR_ONLY, 2)

    stale = editor.post("console_group_save", "groups/fin-employees",
                        {"rule": FIN_RULE, "version": "1", "previewed": fingerprint}, route=route)
    assert stale.status_code == 409 and "was changed meanwhile (now version 2" in text(stale)
    assert ada


def test_a_reader_sees_the_rule_but_cannot_edit_it(rt, browser, finance):
    reader = browser("reader-key")
    page = html(reader.get("console_group", "groups/fin-employees", route={"id": "fin-employees"}))
    assert "<textarea" not in page and "Editing needs the role Groups.Manage." in page
    refused = reader.post("console_group_preview", "groups/fin-employees/preview", {"rule": FIN_RULE},
                          route={"id": "fin-employees"})
    assert refused.status_code == 403


def test_a_static_group_has_no_rule_to_edit(rt, browser):
    response = browser("admin-key").post("console_group_preview", "groups/suspend-immediate/preview",
                                         {"rule": FIN_RULE}, route={"id": "suspend-immediate"})
    assert response.status_code == 409


def test_times_are_shown_in_the_institutions_zone(rt, browser, clock):
    clock.set(datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
    person_id = register(rt, "E1", "Ada", "Lovelace")
    page = text(browser("reader-key").get("console_person", f"persons/{person_id}", route={"id": person_id}))
    assert "2026-07-01 14:00 CEST" in page and "Times are in Europe/Brussels." in page


def test_long_lists_stop_and_say_so(rt, browser, finance, wiki, monkeypatch):
    from shared.console import views

    monkeypatch.setattr(views, "LIST_LIMIT", 1)
    monkeypatch.setattr(views, "BOARD_LIMIT", 1)
    for n in (1, 2):
        register(rt, f"E{n}", "Alan", f"Turing{n}")
        requests.submit(rt, RequestSubmission.model_validate(form(f"F-{n}")), "flow")
    worklist = text(browser("staff-key").get("console_worklist", "worklist"))
    assert "1+ order to do by hand" in worklist and "Showing 1, oldest first. Next page" in worklist
    board = text(browser("desk-key").get("console_requests", "requests"))
    assert "New 1+ REQ-000001" in board and "REQ-000002" not in board and "Showing the first 1." in board


def test_a_form_goes_back_only_to_a_console_page(rt, browser, finance):
    register(rt, "E1", "Alan", "Turing")
    [order] = orders.list_orders(rt, "wiki", "Transmitted", None)
    done = browser("staff-key").post("console_orders_confirm", "orders/confirm",
                                     {"ids": order.id, "back": "https://evil.example/"})
    assert location(done).startswith("/api/console/worklist?flash=1+order+confirmed.")
