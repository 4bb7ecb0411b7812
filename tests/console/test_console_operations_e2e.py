"""The Operations page in headless Chromium through devhost (docs/console.md): after a
small real load through the bulk route, an administrator sees the figures — orders by state
per target, the group's re-evaluation, the queues — and the day-one verdict, runs the sweep,
replays a dead letter and sees it gone and the verdict turn to finished; a non-admin gets
the 403 page."""

from __future__ import annotations

from datetime import timedelta

from shared.bus import LocalBus
from shared.clock import TravelClock
from shared.runtime import runtime
from tests.console import test_console_e2e as browser
from tests.console.test_console_e2e import setup_finance, shoot, sign_in
from tests.factories import hr_update
from tests.helpers.keys import auth

chromium, console = browser.chromium, browser.console  # the browser suite's fixtures: Chromium, devhost, a page
LOADED = 12


def load(client, count: int) -> list[str]:
    """`count` Finance employees through POST /api/persons/bulk; their person ids."""
    records = [hr_update(source_id=f"E{n:04d}", names={"given": "Ada", "family": f"Lovelace{n}"},
                         emails=[{"address": f"ada{n}@example.edu", "type": "work"}]) for n in range(count)]
    response = client.post("/api/persons/bulk", json=records, headers=auth("hr-key"))
    assert response.status_code == 200, response.text
    results = response.json()["items"]
    assert [r["outcome"] for r in results] == ["created"] * count, results
    return [r["person_id"] for r in results]


def dead_letter(clock: TravelClock, person_id: str) -> str:
    """A real `person-changed` message the bus dead-letters after 10 failed deliveries.

    devhost pumps every queue of the same bus file, so the test works on the message an
    hour ahead of devhost's clock: published for then, devhost never sees it due, while a
    bus an hour ahead receives and abandons it until the bus dead-letters it."""
    ahead = TravelClock(clock.now() + timedelta(hours=1))
    queue = runtime().settings.queue("person-changed")
    bus = LocalBus(runtime().settings.bus_path, clock=ahead)
    try:
        bus.publish(queue, f'{{"person_id": "{person_id}", "cause": "ops walk"}}', "ops-walk-1",
                    session_id=person_id, scheduled_at=ahead.now())
        for _ in range(bus.max_delivery_count):
            bus.abandon(bus.receive(queue))
        assert bus.receive(queue) is None and [d.message_id for d in bus.dead_letters(queue)] == ["ops-walk-1"]
    finally:
        bus.close()
    return "ops-walk-1"


def test_an_administrator_sees_day_one_finish_after_replaying_a_dead_letter(console):
    client, host, page = console
    setup_finance(client, host)
    persons = load(client, LOADED)
    host.drain(timeout=60)
    message_id = dead_letter(runtime().clock, persons[0])

    sign_in(page, "admin-key")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Operations").click()
    page.get_by_role("heading", name="Operations", exact=True).wait_for()
    verdict = page.get_by_role("region", name="Has day one finished?")
    verdict.get_by_text("Not yet").wait_for()
    verdict.get_by_text("Dead letters on the bus: 1").wait_for()
    verdict.get_by_text(f"Orders waiting on staff (worklists and approvals): {LOADED}").wait_for()

    orders = page.get_by_role("region", name="Orders by state per target")
    assert orders.get_by_label(f"Team wiki: {LOADED} Transmitted").inner_text() == str(LOADED)
    jobs = page.get_by_role("region", name="Re-evaluations")
    assert "256 / 256" in jobs.get_by_role("row").filter(has_text="Finance employees").inner_text()
    queues = page.get_by_role("region", name="Queues")
    assert queues.get_by_role("row").filter(has_text="person-changed").get_by_role("cell").nth(2).inner_text() == "1"

    page.get_by_role("button", name="Run sweep now").click()
    page.get_by_role("status").get_by_text(f"Sweep ran: {LOADED} persons checked; repairs: none.").wait_for()
    page.get_by_role("region", name="Outbox and sweep").get_by_text("Persons checked").wait_for()

    letters = page.get_by_role("region", name="Dead letters of person-changed")
    letters.get_by_role("cell", name=message_id, exact=True).wait_for()
    shoot(page, "operations.png")
    letters.get_by_role("button", name=f"Replay {message_id}").click()
    page.get_by_role("status").get_by_text(f"Replayed {message_id} on person-changed").wait_for()
    host.drain(timeout=30)  # the replayed message is handled: the person is re-evaluated, nothing changes
    page.reload()

    letters = page.get_by_role("region", name="Dead letters of")
    letters.get_by_text("None.").wait_for()
    assert letters.get_by_role("cell", name=message_id, exact=True).count() == 0
    verdict = page.get_by_role("region", name="Has day one finished?")
    verdict.get_by_text("Yes: the chain has finished its work").wait_for()
    page.get_by_role("region", name="Outbox and sweep").get_by_text(f"replayed {message_id} on person-changed").wait_for()
    shoot(page, "operations-finished.png")


def test_a_non_admin_gets_the_403_page(console):
    client, host, page = console
    sign_in(page, "staff-key")

    response = page.goto("/api/console/operations")

    assert response.status == 403
    page.get_by_role("heading", name="You may not use this page").wait_for()
