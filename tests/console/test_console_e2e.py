"""The console in headless Chromium through devhost: the desk triages a request, staff
confirm orders in bulk, an administrator edits a rule after previewing it.

Chromium is Debian's (`make test` installs it), driven by Playwright without its own browser
download. Without Chromium these tests fail: they are how the console is known to work.
Every test takes its screenshots; with ROSTER_SCREENSHOTS=1 they are written to
docs/screenshots/ (the README's), otherwise to a temporary folder so a test run leaves the
work tree clean.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.clock import TravelClock
from tests.factories import FIN_RULE, hr_update
from tests.helpers.desk import form
from tests.helpers.keys import E2E_KEYS, auth
from tests.helpers.roster import running

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = (Path(__file__).resolve().parents[2] / "docs" / "screenshots" if os.environ.get("ROSTER_SCREENSHOTS")
         else Path(tempfile.gettempdir()) / "roster-screenshots")
KEYS = {**E2E_KEYS, "desk-key": {"name": "Holly", "roles": ["Requests.Manage"]}, "flow-key": ["Requests.Submit"]}
WAIT = 15_000  # ms


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: pip install -r requirements-dev.txt")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def console(tmp_path, chromium):
    """(client, host, page): devhost on the real app at 2026-11-02 in Brussels, and a page."""
    clock = TravelClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    with running(tmp_path, clock, "Europe/Brussels", keys=KEYS) as (client, host):
        context = chromium.new_context(base_url=str(client.base_url), viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(WAIT)
        try:
            yield client, host, page
        finally:
            context.close()


def sign_in(page, key: str) -> None:
    page.goto("/api/console/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Signed in as ").first.wait_for()


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def setup_finance(client, host) -> None:
    """A manual wiki for Finance employees; waits for the new group's first evaluation."""
    assert client.post("/api/targets", headers=auth("admin-key"),
                       json={"id": "wiki", "name": "Team wiki", "connector": "manual"}).status_code == 201
    assert client.post("/api/groups", headers=auth("groups-key"), json={
        "id": "fin-employees", "name": "Finance employees", "kind": "dynamic", "rule": FIN_RULE}).status_code == 201
    assert client.post("/api/targets/wiki/policies", headers=auth("admin-key"),
                       json={"group_id": "fin-employees"}).status_code == 201
    host.drain(timeout=20)


def hire(client, source_id: str, given: str, family: str, organization: str = "FIN") -> str:
    body = hr_update(source_id=source_id, names={"given": given, "family": family},
                     emails=[{"address": f"{given.lower()}.{family.lower()}@example.edu", "type": "work"}])
    body["affiliations"][0]["organization"] = organization
    body["affiliations"].append({"key": "study", "type": "student", "organization": "MATH",
                                 "start": "2018-09-01", "end": "2022-06-30"})
    response = client.post("/api/persons", json=body, headers=auth("hr-key"))
    assert response.status_code == 201, response.text
    return response.json()["person"]["id"]


def test_the_desk_triages_a_request_and_sees_the_emails_sent(console):
    client, host, page = console
    client.post("/api/targets", headers=auth("admin-key"), json={"id": "wiki", "name": "Team wiki"})
    submitted = client.post("/api/requests", json=form(), headers=auth("flow-key"))
    assert submitted.status_code == 201 and submitted.json()["number"] == "REQ-000001"

    sign_in(page, "desk-key")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Requests").click()
    new = page.get_by_role("region", name="New")
    new.get_by_role("link", name="REQ-000001").click()
    page.get_by_role("heading", name="REQ-000001").wait_for()

    page.get_by_label("State").select_option("InPlanning")
    page.get_by_label("Owner (email)").fill("margaret.hamilton@example.edu")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("status").get_by_text("Saved: REQ-000001 is InPlanning, owner margaret.hamilton@example.edu.").wait_for()

    page.get_by_label("Add a comment").fill("@grace.hopper@example.edu do both start on Monday?")
    page.get_by_role("button", name="Comment").click()
    page.get_by_role("status").get_by_text("Comment added. Emailed: grace.hopper@example.edu.").wait_for()
    assert page.locator(".comment .mention").inner_text() == "@grace.hopper@example.edu"

    host.drain(timeout=20)  # the emails leave through the notification queue
    page.reload()
    emails = page.get_by_role("region", name="Emails sent")
    for subject in ("REQ-000001: we have received your request", "REQ-000001: your request is being planned",
                    "REQ-000001: you are the owner of this request", "REQ-000001: you were mentioned in a comment"):
        emails.get_by_text(subject).wait_for()
    assert page.locator("h1 .badge").inner_text() == "InPlanning"
    shoot(page, "request.png")

    stored = client.get("/api/requests/REQ-000001", headers=auth("desk-key")).json()
    assert (stored["state"], stored["owner"]) == ("InPlanning", "margaret.hamilton@example.edu")
    assert stored["comments"][0]["mentions"] == ["grace.hopper@example.edu"]

    page.get_by_role("link", name="Requests").first.click()
    page.get_by_role("region", name="InPlanning").get_by_role("link", name="REQ-000001").wait_for()
    shoot(page, "requests.png")


def test_staff_confirm_orders_in_bulk_and_see_them_executed(console):
    client, host, page = console
    setup_finance(client, host)
    people = [hire(client, "E1", "Ada", "Lovelace"), hire(client, "E2", "Alan", "Turing", "HR")]

    sign_in(page, "staff-key")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Worklist").click()
    page.get_by_label("Target").select_option("wiki")
    page.get_by_role("button", name="Show").click()
    page.get_by_role("heading", name="2 orders to do by hand for Team wiki").wait_for()
    page.get_by_label("Select all orders").check()
    assert page.locator('input[name="ids"]:checked').count() == 2
    shoot(page, "worklist.png")

    page.get_by_role("button", name="Confirm selected").click()
    page.get_by_role("status").get_by_text("2 orders confirmed.").wait_for()
    page.get_by_text("Nothing here: no order waits to be carried out by hand.").wait_for()
    executed = client.get("/api/orders", params={"target": "wiki", "state": "Executed"}, headers=auth("staff-key"))
    assert sorted(o["person_id"] for o in executed.json()["items"]) == sorted(people)

    page.goto("/api/console/persons?q=lovelace")
    page.get_by_role("link", name="Ada Lovelace").click()
    access = page.get_by_role("region", name="Access (View Permissions)")
    row = access.get_by_role("row").filter(has_text="wiki")
    assert "create_account" in row.inner_text() and "Executed" in row.inner_text()
    page.get_by_role("region", name="Groups").get_by_text("Finance employees").wait_for()
    shoot(page, "person.png")


def test_an_administrator_edits_a_rule_after_previewing_it(console):
    client, host, page = console
    setup_finance(client, host)
    hire(client, "E1", "Ada", "Lovelace")
    alan = hire(client, "E2", "Alan", "Turing", "HR")

    sign_in(page, "groups-key")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Groups").click()
    page.get_by_role("link", name="Finance employees").click()
    editor = page.get_by_label("Membership rule")
    editor.fill('person.affiliations -any (affiliation.type -eq "employee"\n'
                '  -and affiliation.organization -in ["HR" "IT"])')
    page.get_by_role("button", name="Preview", exact=True).click()
    error = page.locator("#rule-error")
    error.get_by_text('Line 2, column 43: unexpected "IT": expected , or ]').wait_for()
    assert editor.get_attribute("aria-invalid") == "true"
    assert "rule-error" in editor.get_attribute("aria-describedby")
    assert error.locator("pre.caret").inner_text().splitlines()[1].index("^") == \
        error.locator("pre.caret").inner_text().splitlines()[0].index('"IT"')
    shoot(page, "rule-error.png")

    fixed = 'person.affiliations -any (affiliation.type -eq "employee"\n  -and affiliation.organization -in ["HR", "IT"])'
    editor.fill(fixed)
    page.get_by_role("button", name="Preview", exact=True).click()
    preview = page.get_by_role("region", name="Preview: if this rule were saved now")
    preview.get_by_text("0 would join and 1 would leave, of 2 persons evaluated").wait_for()
    assert preview.get_by_role("table", name="Would leave (1)").get_by_role("link").inner_text() == "Ada Lovelace"
    shoot(page, "rule-preview.png")

    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("status").get_by_text("Saved: version 2 of the rule.").wait_for()
    group = client.get("/api/groups/fin-employees", headers=auth("groups-key")).json()
    assert (group["rule"], group["version"]) == (fixed, 2)
    host.drain(timeout=30)  # the re-evaluation batches: Ada leaves
    members = client.get("/api/groups/fin-employees/members", headers=auth("groups-key")).json()["items"]
    assert [m["person_id"] for m in members] == [alan]


# -- staff never need curl (docs/console.md) ------------------------------------------------


def open_person(page, query: str, name: str) -> None:
    page.goto(f"/api/console/persons?q={query}")
    page.get_by_role("link", name=name).click()
    page.get_by_role("heading", name=name).wait_for()


def test_an_officer_suspends_a_person_with_a_reason_and_lifts_it(console):
    client, host, page = console
    setup_finance(client, host)
    ada = hire(client, "E1", "Ada", "Lovelace")

    sign_in(page, "officer-key")
    open_person(page, "lovelace", "Ada Lovelace")
    suspension = page.get_by_role("region", name="Suspension")
    suspension.get_by_label("Reason").fill("laptop stolen")
    suspension.get_by_role("button", name="Suspend now").click()
    page.get_by_role("status").get_by_text("Suspended: 1 suspend order issued. Reason: laptop stolen").wait_for()
    page.get_by_text("Suspended: a member of").wait_for()
    shoot(page, "suspend.png")
    groups = client.get(f"/api/persons/{ada}/groups", headers=auth("admin-key")).json()["items"]
    [suspended] = [g for g in groups if g["group_id"] == "suspend-immediate"]
    assert "laptop stolen" in suspended["reason"]

    page.get_by_role("region", name="Suspension").get_by_label("Why lift it").fill("laptop found")
    page.get_by_role("button", name="Lift suspension").click()
    page.get_by_role("status").get_by_text("Suspension lifted").wait_for()
    eligibility = client.get(f"/api/persons/{ada}/eligibility", headers=auth("admin-key")).json()
    assert eligibility["can_request"] is True


def test_an_administrator_creates_a_static_group_with_a_dated_member_and_deletes_it(console):
    client, host, page = console
    ada = hire(client, "E1", "Ada", "Lovelace")

    sign_in(page, "groups-key")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Groups").click()
    new = page.get_by_role("region", name="New group")
    new.get_by_label("Id").fill("visitors")
    new.get_by_label("Name").fill("Visitors")
    new.get_by_role("button", name="Create group").click()
    page.get_by_role("status").get_by_text("Created: Visitors.").wait_for()

    page.get_by_label("Person id or email").fill("ada.lovelace@example.edu")  # an address only she holds
    page.get_by_label("From (optional)").fill("2026-11-01")
    page.get_by_label("Until, inclusive (optional)").fill("2026-12-31")
    page.get_by_label("Reason").fill("visiting researcher")
    page.get_by_role("button", name="Add member").click()
    page.get_by_role("status").get_by_text("Added Ada Lovelace").wait_for()
    members = page.get_by_role("region", name="Members")
    assert "visiting researcher" in members.get_by_role("row").filter(has_text="Ada Lovelace").inner_text()
    shoot(page, "group-members.png")
    stored = client.get("/api/groups/visitors/members", headers=auth("groups-key")).json()["items"]
    assert [(m["person_id"], m["end"]) for m in stored] == [(ada, "2027-01-01T00:00:00+01:00")]  # through Dec 31

    page.get_by_label("Type visitors to confirm").fill("visitors")
    page.get_by_role("button", name="Delete group").click()
    page.get_by_role("status").get_by_text("Deleted: visitors").wait_for()
    assert client.get("/api/groups/visitors", headers=auth("groups-key")).status_code == 404


def test_an_administrator_registers_a_target_and_policy_and_the_worklist_suggests_the_login(console):
    client, host, page = console
    assert client.post("/api/groups", headers=auth("groups-key"), json={
        "id": "fin-employees", "name": "Finance employees", "kind": "dynamic", "rule": FIN_RULE}).status_code == 201
    host.drain(timeout=20)

    sign_in(page, "admin-key")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Targets").click()
    new = page.get_by_role("region", name="New target")
    new.get_by_label("Id").fill("lms")
    new.get_by_label("Name").fill("Learning platform")
    new.get_by_label("Login", exact=True).fill("{given:1}{family}")
    new.get_by_label("Attributes to set, one per line").fill("displayName = {given} {family}")
    new.get_by_role("button", name="Register target").click()
    page.get_by_role("status").get_by_text("Registered: Learning platform.").wait_for()
    page.get_by_label("Group").select_option("fin-employees")
    page.get_by_role("button", name="Grant").click()
    page.get_by_role("status").get_by_text("Granted: account for members of fin-employees").wait_for()
    shoot(page, "target.png")

    hire(client, "E1", "Zoë", "Ørsted")
    page.goto("/api/console/worklist?target=lms")
    row = page.get_by_role("row").filter(has_text="Zoë Ørsted")
    assert "zorsted" in row.inner_text() and "displayname" in row.inner_text().lower()
    assert row.get_by_label("Account id").input_value() == "zorsted"
    shoot(page, "worklist-suggestion.png")
    row.get_by_label("Note").fill("created by hand")
    row.get_by_role("button", name="Confirm create_account for Zoë Ørsted").click()
    page.get_by_role("status").get_by_text("Account zorsted recorded.").wait_for()


def test_staff_approve_a_held_order_from_the_approvals_page(console):
    client, host, page = console
    assert client.post("/api/targets", headers=auth("admin-key"), json={
        "id": "payroll", "name": "Payroll", "approval": "always"}).status_code == 201
    assert client.post("/api/groups", headers=auth("groups-key"), json={
        "id": "fin-employees", "name": "Finance employees", "kind": "dynamic", "rule": FIN_RULE}).status_code == 201
    assert client.post("/api/targets/payroll/policies", headers=auth("admin-key"),
                       json={"group_id": "fin-employees"}).status_code == 201
    host.drain(timeout=20)
    hire(client, "E1", "Ada", "Lovelace")

    sign_in(page, "staff-key")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Approvals").click()
    row = page.get_by_role("row").filter(has_text="Ada Lovelace")
    assert "Held: approval: always" in row.inner_text()
    shoot(page, "approvals.png")
    row.get_by_role("button", name="Approve").click()
    page.get_by_role("status").get_by_text("1 order approved.").wait_for()
    orders = client.get("/api/orders", params={"target": "payroll"}, headers=auth("staff-key")).json()["items"]
    assert [o["state"] for o in orders] == ["Transmitted"]


def test_staff_upload_the_targets_accounts_and_the_confirmed_order_is_verified(console):
    client, host, page = console
    setup_finance(client, host)
    hire(client, "E1", "Ada", "Lovelace")

    sign_in(page, "staff-key")
    page.goto("/api/console/worklist?target=wiki")
    row = page.get_by_role("row").filter(has_text="Ada Lovelace")
    row.get_by_label("Account id").fill("ada.l")
    row.get_by_role("button", name="Confirm create_account for Ada Lovelace").click()
    page.get_by_role("status").get_by_text("Account ada.l recorded.").wait_for()

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Targets").click()
    page.get_by_role("link", name="Team wiki").click()
    page.get_by_label("The target's accounts (CSV)").set_input_files(
        files=[{"name": "wiki.csv", "mimeType": "text/csv", "buffer": b"account,active\nada.l,true\n"}])
    page.get_by_role("button", name="Reconcile").click()
    page.get_by_text("Reconciled 1 account").wait_for()
    page.get_by_text("1 order verified").wait_for()
    shoot(page, "reconcile.png")
    verified = client.get("/api/orders", params={"target": "wiki", "state": "Verified"}, headers=auth("staff-key"))
    assert len(verified.json()["items"]) == 1


def test_the_requester_opens_their_page_from_the_email_link_and_sees_a_public_comment(console):
    client, host, page = console
    client.post("/api/targets", headers=auth("admin-key"), json={"id": "wiki", "name": "Team wiki"})
    receipt = client.post("/api/requests", json=form(), headers=auth("flow-key")).json()
    host.drain(timeout=20)
    emails = client.get("/api/outbox", headers=auth("admin-key")).json()["items"]
    [confirmation] = [e for e in emails if e["subject"] == "REQ-000001: we have received your request"]
    link = next(word for word in confirmation["text"].split() if "/api/track/" in word)
    assert link == receipt["requester_link"] and "/api/console/" not in confirmation["text"]

    sign_in(page, "desk-key")
    page.goto("/api/console/requests/REQ-000001")
    page.get_by_label("Add a comment").fill("Both accounts will be ready on Monday.")
    page.get_by_label("Visible to the requester").check()
    page.get_by_role("button", name="Comment").click()
    page.get_by_role("status").get_by_text("The requester sees it on their page.").wait_for()

    requester = page.context.browser.new_context(base_url=str(client.base_url))  # no staff cookie
    theirs = requester.new_page()
    theirs.goto(link.replace("http://127.0.0.1:7071", str(client.base_url).rstrip("/")))
    theirs.get_by_role("heading", name="Your request REQ-000001").wait_for()
    assert theirs.locator("#state").inner_text() == "New"
    theirs.get_by_text("Both accounts will be ready on Monday.").wait_for()
    theirs.get_by_text("Holly, 2026-11-02 10:00 CET").wait_for()  # the desk by name, never a key id
    shoot(theirs, "requester.png")
    requester.close()
