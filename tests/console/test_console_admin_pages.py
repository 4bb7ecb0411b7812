"""Staff never need curl: suspension, groups, targets and policies, the reconciliation
upload, the worklist's suggestions and the dead-letter list, through the console's forms."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from shared.models.provisioning import OrderState
from shared.services import groups, orders, targets
from shared.services.provisioning import suspended_by
from shared.store.deadletters import DeadLetterRepository
from tests.people.helpers import finance_wiki, hire, visible_text

SUSPEND_KEYS = {"officer-key": ["Suspend.Manage"], "ops-key": ["Provisioning.Operate"]}


@pytest.fixture
def api_keys(api_keys):
    return {**api_keys, **SUSPEND_KEYS}


def flash(response) -> str:
    assert response.status_code == 303, (response.status_code, response.get_body()[:400])
    return parse_qs(urlsplit(response.headers["Location"]).query).get("flash", [""])[0]


def page(response) -> str:
    assert response.mimetype == "text/html"
    return visible_text(response.get_body().decode())


def test_an_officer_suspends_a_person_with_a_reason_and_lifts_it(rt, browser):
    finance_wiki(rt)
    hired = hire(rt, "E1", "Ada", "Lovelace")
    orders.confirm(rt, hired.orders[0].id, "apikey:staff")
    person_id, officer = hired.registration.person.id, browser("officer-key")
    route = {"id": person_id}
    assert "Suspend now" in page(officer.get("console_person", f"persons/{person_id}", route=route))
    refused = officer.post("console_person_suspend", f"persons/{person_id}/suspend", {"reason": " "}, route=route)
    assert flash(refused) == "Say why the person is suspended." and suspended_by(rt, person_id) is None

    done = officer.post("console_person_suspend", f"persons/{person_id}/suspend",
                        {"reason": "stolen laptop"}, route=route)
    assert flash(done) == "Suspended: 1 suspend order issued. Reason: stolen laptop"
    assert suspended_by(rt, person_id) == "suspend-immediate"
    assert "Lift suspension" in page(officer.get("console_person", f"persons/{person_id}", route=route))

    lifted = officer.post("console_person_lift", f"persons/{person_id}/lift", {"reason": "laptop found"}, route=route)
    assert flash(lifted).startswith("Suspension lifted") and suspended_by(rt, person_id) is None


def test_suspension_needs_the_suspend_role(rt, browser):
    finance_wiki(rt)
    person_id = hire(rt, "E1", "Ada", "Lovelace").registration.person.id
    response = browser("groups-key").post("console_person_suspend", f"persons/{person_id}/suspend",
                                          {"reason": "x"}, route={"id": person_id})
    assert response.status_code == 403 and suspended_by(rt, person_id) is None


def test_a_group_is_created_given_dated_static_members_and_deleted(rt, browser):
    person_id = hire(rt, "E1", "Ada", "Lovelace").registration.person.id
    admin = browser("groups-key")
    made = admin.post("console_group_create", "groups", {"id": "visitors", "name": "Visitors", "kind": "static"})
    assert flash(made) == "Created: Visitors." and groups.get_group(rt, "visitors").kind == "static"

    route = {"id": "visitors"}
    added = admin.post("console_group_member_add", "groups/visitors/members",
                       {"person_id": person_id, "start": "2026-11-01", "end": "2026-12-31", "reason": "guest"},
                       route=route)
    assert flash(added).startswith("Added Ada Lovelace")
    [member] = groups.members(rt, "visitors")
    assert (member.person_id, member.end.date().isoformat()) == (person_id, "2027-01-01")
    assert "from 2026-11-01 00:00 CET until 2027-01-01 00:00 CET" in page(admin.get("console_group", "groups/visitors", route=route))

    bad = admin.post("console_group_member_add", "groups/visitors/members",
                     {"person_id": person_id, "start": "soon", "reason": "guest"}, route=route)
    assert "Not added: start" in flash(bad)

    removed = admin.post("console_group_member_remove", f"groups/visitors/members/{person_id}/remove",
                         {"reason": "left"}, route={**route, "person_id": person_id})
    assert flash(removed).startswith("Removed Ada Lovelace") and groups.members(rt, "visitors") == []

    unconfirmed = admin.post("console_group_delete", "groups/visitors/delete", {"confirm": "nope"}, route=route)
    assert "Type visitors to confirm" in flash(unconfirmed)
    deleted = admin.post("console_group_delete", "groups/visitors/delete", {"confirm": "visitors"}, route=route)
    assert flash(deleted).startswith("Deleted: visitors")
    assert "visitors" not in {g.id for g in groups.list_groups(rt)}


def test_a_refused_group_is_drawn_again_with_the_error_by_the_field(rt, browser):
    response = browser("groups-key").post("console_group_create", "groups",
                                          {"id": "Bad Id", "name": "Bad", "kind": "static"})
    assert response.status_code == 422 and 'id="id-error"' in response.get_body().decode()
    assert 'value="Bad Id"' in response.get_body().decode()


def test_the_groups_list_names_the_targets_a_group_provisions(rt, browser):
    finance_wiki(rt)
    assert "Finance fin-employees dynamic — Wiki" in page(browser("groups-key").get("console_groups", "groups"))


def test_an_administrator_registers_a_target_with_a_template_and_grants_it_to_a_group(rt, browser):
    finance_wiki(rt)
    admin = browser("admin-key")
    made = admin.post("console_target_create", "targets", {
        "id": "lms", "name": "Learning platform", "connector": "manual", "on_remove": "delete", "approval": "none",
        "max_percent": "10", "min_size": "10", "login": "{given:1}{family}",
        "attributes": "displayName = {given} {family}\nmail = {login}@lms.example.edu"})
    assert flash(made) == "Registered: Learning platform."
    lms = targets.get_target(rt, "lms")
    assert (lms.on_remove, lms.account_template.login) == ("delete", "{given:1}{family}")
    assert lms.account_template.attributes["mail"] == "{login}@lms.example.edu"

    granted = admin.post("console_policy_add", "targets/lms/policies", {"group_id": "fin-employees",
                         "entitlement": "account"}, route={"id": "lms"})
    assert flash(granted).startswith("Granted: account for members of fin-employees")
    assert [p.group_id for p in targets.policies(rt, "lms")] == ["fin-employees"]
    withdrawn = admin.post("console_policy_remove", "targets/lms/policies/remove",
                           {"group_id": "fin-employees", "entitlement": "account"}, route={"id": "lms"})
    assert flash(withdrawn).startswith("Withdrawn") and targets.policies(rt, "lms") == []


def test_a_bad_template_is_refused_naming_the_field_and_nothing_changes(rt, browser):
    finance_wiki(rt)
    response = browser("admin-key").post("console_target_save", "targets/wiki", {
        "name": "Wiki", "connector": "manual", "login": "{given}.{surname}"}, route={"id": "wiki"})
    assert response.status_code == 422 and 'id="account_template.login-error"' in response.get_body().decode()
    assert targets.get_target(rt, "wiki").account_template is None


def test_the_target_form_never_shows_a_secret_setting(rt, browser):
    targets.create_target(rt, targets.Target(id="hook", name="Hook", connector="webhook", settings={
        "url": "https://hooks.example.edu/in?sig=s3cr3t", "secret_env": "ROSTER_TARGET_SECRET_HOOK"}), "admin")
    body = browser("admin-key").get("console_target", "targets/hook", route={"id": "hook"}).get_body().decode()
    assert "s3cr3t" not in body and "https://hooks.example.edu/in" in body
    saved = browser("admin-key").post("console_target_save", "targets/hook", {
        "name": "Hook 2", "connector": "webhook", "url": ""}, route={"id": "hook"})
    assert flash(saved) == "Saved: Hook 2."
    kept = targets.get_target(rt, "hook").settings
    assert kept["secret_env"] == "ROSTER_TARGET_SECRET_HOOK" and kept["url"].endswith("?sig=s3cr3t")  # kept, not shown


def test_a_reconciliation_csv_is_uploaded_and_verifies_the_confirmed_account(rt, browser):
    finance_wiki(rt)
    [create] = hire(rt, "E1", "Ada", "Lovelace").orders
    orders.confirm(rt, create.id, "apikey:staff", "", "ada.l")
    boundary = "----roster"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntest-csrf-token\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"csv\"; filename=\"wiki.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\naccount,active\nada.l,true\n\r\n--{boundary}--\r\n").encode()
    response = browser("ops-key").call("console_target_reconcile", "POST", "targets/wiki/reconcile", body=body,
                                       route={"id": "wiki"},
                                       headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 200, response.get_body()[:500]
    assert "Reconciled 1 account 1 order verified" in page(response)
    assert orders.get_order(rt, create.id).state == OrderState.verified


def test_the_worklist_shows_what_to_type_and_confirm_records_the_account_id(rt, browser):
    finance_wiki(rt, account_template={"login": "{given:1}{family}", "attributes": {"cn": "{given} {family}"}})
    [create] = hire(rt, "E1", "Zoë", "Ørsted").orders
    staff = browser("staff-key")
    words = page(staff.get("console_worklist", "worklist", params={"target": "wiki"}))
    assert "Login zorsted cn Zoë Ørsted" in words
    done = staff.post("console_order_confirm", f"orders/{create.id}/confirm",
                      {"account_id": "zorsted", "note": "ticket 12"}, route={"id": create.id})
    assert flash(done) == "Confirmed: the create_account order in wiki is Executed. Account zorsted recorded."
    [access] = orders.access(rt, create.person_id)
    assert (access["account_id"], access["note"]) == ("zorsted", "ticket 12")


def test_the_dead_letter_list_shows_both_kinds_and_an_administrator_replays_one(rt, browser):
    DeadLetterRepository(rt.store).park("person-update", "m-1", b'{"secret": "ada-birth-date"}', "ValidationFailed",
                                        "as_of: field required", rt.clock.now())
    queue = rt.settings.queue("group-update")
    rt.bus.publish(queue, '{"person_id": "p-1", "cause": "x"}', message_id="m-2", session_id="p-1")
    rt.bus.dead_letter(rt.bus.receive(queue), "MaxDeliveryCountExceeded", "failed 10 times")
    words = page(browser("ops-key").get("console_dead_letters", "dead-letters"))
    assert "Refused as malformed (1)" in words and "as_of: field required" in words
    assert "The bus's dead letters (1)" in words and "MaxDeliveryCountExceeded" in words
    assert "ada-birth-date" not in words and "Replay" not in words  # no bodies; replay is for Admin
    assert browser("ops-key").post("console_dead_letter_replay", "dead-letters/replay",
                                   {"queue": "group-update", "message_id": "m-2"}).status_code == 403
    done = browser("admin-key").post("console_dead_letter_replay", "dead-letters/replay",
                                     {"queue": "group-update", "message_id": "m-2"})
    assert flash(done) == "Replayed on group-update: the message is back in its queue."
    assert rt.bus.dead_letters(queue) == [] and rt.bus.receive(queue) is not None


def test_a_member_is_added_by_an_email_address_only_they_hold(rt, browser):
    person_id = hire(rt, "E1", "Ada", "Lovelace").registration.person.id
    groups.create_group(rt, groups.GroupIn(id="visitors", name="Visitors"), "admin")
    admin, route = browser("groups-key"), {"id": "visitors"}
    unknown = admin.post("console_group_member_add", "groups/visitors/members",
                         {"person_id": "nobody@example.edu", "reason": "guest"}, route=route)
    assert flash(unknown) == "Not added: nobody has the address nobody@example.edu; give the person id."
    added = admin.post("console_group_member_add", "groups/visitors/members",
                       {"person_id": "e1@example.edu", "reason": "guest"}, route=route)
    assert flash(added).startswith("Added Ada Lovelace")
    assert [m.person_id for m in groups.members(rt, "visitors")] == [person_id]
