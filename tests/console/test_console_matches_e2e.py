"""Duplicates in headless Chromium through devhost: staff resolve a held record side by
side, merge a duplicate into a person and split the merge back (docs/matching.md)."""

from __future__ import annotations

from tests.console import test_console_e2e as browser
from tests.console.test_console_e2e import shoot, sign_in
from tests.factories import hr_update

chromium, console = browser.chromium, browser.console  # the browser suite's fixtures: Chromium, devhost, a page


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ada(client, source_id: str, email: str) -> str:
    body = hr_update(source_id=source_id, birth_date="1815-12-10", emails=[{"address": email, "type": "work"}])
    response = client.post("/api/persons", json=body, headers=auth("hr-key"))
    assert response.status_code == 201, response.text
    return response.json()["person"]["id"]


def test_staff_link_a_held_record_to_the_person_side_by_side(console):
    client, host, page = console
    person_id = ada(client, "E1001", "ada.lovelace@example.edu")
    sis = {"source": "sis", "source_id": "S-1", "as_of": "2026-11-02T08:00:00+00:00", "birth_date": "1815-12-10",
           "names": {"given": "Ada", "family": "Lovelace"}, "emails": [{"address": "ada.lovelace@example.edu"}],
           "affiliations": [{"key": "prog", "type": "student", "organization": "MATH", "start": "2025-09-01"}]}
    held = client.post("/api/persons", json=sis, headers=auth("hr-key"))
    assert held.status_code == 202 and held.json()["outcome"] == "held", held.text

    sign_in(page, "hr-key")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Matches").click()
    page.get_by_role("link", name="sis:S-1").click()
    page.get_by_role("heading", name="sis:S-1").wait_for()
    table = page.locator("table.side-by-side")
    assert table.locator("tr", has_text="Family name").locator(".badge").inner_text() == "agree"
    assert table.locator("tr", has_text="Birth date").locator(".badge").inner_text() == "agree"
    shoot(page, "match.png")

    page.get_by_role("button", name="Link to Ada Lovelace").click()
    page.get_by_role("status").get_by_text("sis:S-1 linked to this person.").wait_for()
    stored = client.get(f"/api/persons/{person_id}", headers=auth("reader-key")).json()
    assert {"source": "sis", "source_id": "S-1"} in stored["identifiers"]
    assert client.get("/api/matches", headers=auth("reader-key")).json()["items"] == []
    again = client.post(f"/api/matches/{held.json()['pending_match']['id']}/resolve", headers=auth("hr-key"),
                        json={"decision": "create"})
    assert again.status_code == 409


def test_staff_merge_a_duplicate_and_split_it_back(console):
    client, host, page = console
    survivor = ada(client, "E1001", "ada.lovelace@example.edu")
    crm = {"source": "crm", "source_id": "C-9", "as_of": "2026-11-02T08:00:00+00:00", "birth_date": "1815-12-10",
           "names": {"given": "Ada", "family": "Lovelace"}, "emails": [{"address": "countess@example.edu"}]}
    held = client.post("/api/persons", json=crm, headers=auth("hr-key")).json()["pending_match"]["id"]
    created = client.post(f"/api/matches/{held}/resolve", headers=auth("hr-key"),
                          json={"decision": "create", "reason": "looked like someone else"})
    assert created.status_code == 200, created.text
    duplicate = created.json()["person"]["id"]

    sign_in(page, "hr-key")
    page.goto(f"/api/console/persons/{survivor}")
    page.get_by_role("link", name="Merge a duplicate into this person, or split a merge").click()
    page.get_by_label("The other person's id").fill(duplicate)
    page.get_by_role("button", name="Compare").click()
    page.locator("table.side-by-side").get_by_text("countess@example.edu").wait_for()
    page.get_by_label("Why these are one person").fill("one human, two employee numbers")
    shoot(page, "merge.png")
    page.get_by_role("button", name="Merge Ada Lovelace into Ada Lovelace").click()
    page.get_by_role("status").get_by_text(f"Merged {duplicate} into this person.").wait_for()
    merged = client.get(f"/api/persons/{survivor}", headers=auth("reader-key")).json()
    assert {i["source_id"] for i in merged["identifiers"]} == {"E1001", "C-9"}
    assert client.get(f"/api/persons/{duplicate}", headers=auth("reader-key")).json()["merged_into"] == survivor

    page.get_by_role("link", name="Merge a duplicate into this person, or split a merge").click()
    page.get_by_label("Why the latest merge was wrong").fill("two different people after all")
    page.get_by_role("button", name="Split the latest merge").click()
    page.get_by_role("status").get_by_text("Split: Ada Lovelace is a person again.").wait_for()
    restored = client.get(f"/api/persons/{duplicate}", headers=auth("reader-key")).json()
    assert restored["merged_into"] is None and [i["source_id"] for i in restored["identifiers"]] == ["C-9"]
    again = client.post(f"/api/persons/{survivor}/split", headers=auth("hr-key"), json={"reason": "again"})
    assert again.status_code == 409
