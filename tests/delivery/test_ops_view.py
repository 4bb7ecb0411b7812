"""`GET /api/ops/chain` shows an Admin the chain at a glance — queue depths, the bus's own
dead letters beside the parked ones, paused targets and what waits on them — and
`POST /api/ops/chain/replay` sends a dead letter back, audited."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from shared.bus import BusError
from shared.connectors import Outcome
from shared.models.provisioning import OrderState
from shared.services import circuits, operations
from shared.services.operations import REPLAYS
from shared.store.audit import audit_entity, audit_trail
from tests.bus.calls import call, payload
from tests.delivery.chain import SECRET_ENV, deliver_due, finance_group, hire, webhook_target
from tests.delivery.servers import Receiver
from tests.helpers.lists import bus_dead_letters


@pytest.fixture
def extra_settings() -> dict[str, str]:
    return {"ROSTER_CIRCUIT_FAILURES": "1"}


def poison(rt, message_id: str = "order:p1.x:0") -> None:
    """A provisioning-order message that fails every delivery until the bus dead-letters it."""
    queue = rt.settings.queue("provisioning-order")
    rt.bus.publish(queue, b'{"order_id": "p1.x"}', message_id, session_id="p1")
    for _ in range(rt.bus.max_delivery_count):
        rt.bus.abandon(rt.bus.receive(queue))
    assert rt.bus.receive(queue) is None


def view(key: str = "admin-key"):
    return call("ops_chain", "GET", "ops/chain", key=key)


def section(body: dict, queue: str) -> dict:
    return next(q for q in body["queues"] if q["queue"] == queue)


def test_the_view_shows_the_bus_dead_letters_beside_the_parked_ones(rt):
    poison(rt)
    from devhost.pump import to_message
    from functions.provisioning import provisioning_order_queue

    rt.bus.publish(rt.settings.queue("provisioning-order"), b"not json", "bad-1")
    bad = rt.bus.receive(rt.settings.queue("provisioning-order"))
    provisioning_order_queue._function.get_user_function()([to_message(bad)])  # parks it

    response = view()

    assert response.status_code == 200
    orders = section(payload(response), "provisioning-order")
    assert orders["dead_lettered"] == 1
    [letter] = orders["dead_letters"]
    assert (letter["message_id"], letter["reason"], letter["delivery_count"]) == (
        "order:p1.x:0", "MaxDeliveryCountExceeded", 10)
    assert "body" not in letter  # bodies may hold personal data
    assert [(p["message_id"], p["reason"]) for p in orders["parked"]] == [("bad-1", "MalformedJson")]
    assert payload(response)["outbox"] == {"backlog": 0} and payload(response)["last_sweep"] is None


def test_only_an_admin_sees_the_view(rt):
    assert view("reader-key").status_code == 403


def test_a_replay_sends_the_dead_letter_back_once_and_is_audited(rt):
    poison(rt)
    body = {"queue": "provisioning-order", "message_id": "order:p1.x:0"}

    replayed = call("ops_chain_replay", "POST", "ops/chain/replay", body=body)
    again = call("ops_chain_replay", "POST", "ops/chain/replay", body=body)

    assert replayed.status_code == 200 and again.status_code == 404
    new_id = payload(replayed)["new_message_id"]
    after = payload(view())
    orders = section(after, "provisioning-order")
    assert (orders["active"], orders["dead_lettered"]) == (1, 0)
    [audit] = after["replays"]
    assert (audit["action"], audit["details"]["new_message_id"]) == ("deadletter.replayed", new_id)
    assert audit["actor"] == payload(replayed)["by"] != "anonymous"
    assert rt.bus.receive(rt.settings.queue("provisioning-order")).message_id == new_id


def test_a_replay_naming_an_unknown_queue_is_refused_naming_the_field(rt):
    response = call("ops_chain_replay", "POST", "ops/chain/replay", body={"queue": "nope", "message_id": "m"})

    assert response.status_code == 422
    assert payload(response)["errors"][0]["field"] == "queue"


def test_a_paused_target_shows_its_circuit_and_the_orders_waiting_on_it(rt, clock, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "delivery-secret")
    with Receiver(status=503) as failing:
        finance_group(rt)
        target = webhook_target(rt, "flaky", failing.url)
        persons = [hire(rt, n) for n in range(3)]
        deliver_due(rt)

        [row] = payload(view())["targets"]

    assert (row["target_id"], row["circuit"], row["waiting"], row["last_fault"]) == ("flaky", "open", 3, "HTTP 503")
    assert datetime.fromisoformat(row["next_probe_at"]) == clock.now() + timedelta(seconds=60)
    assert failing.requests == 1 and len(persons) == 3
    circuits.record(rt, target, Outcome(OrderState.executed, "HTTP 204"))
    assert payload(view())["targets"][0]["circuit"] == "closed"


def test_a_bus_that_cannot_be_read_shows_an_error_not_a_failed_view(rt, monkeypatch):
    def refuse(queue):
        raise BusError("reading the depth failed: ClientAuthenticationError")

    monkeypatch.setattr(rt.bus, "depth", refuse)

    response = view()

    assert response.status_code == 200
    assert all(q["error"] and q["active"] is None for q in payload(response)["queues"])


def test_the_view_says_whether_day_one_finished_and_counts_orders_by_state(rt):
    poison(rt)
    body = payload(view())

    assert body["day_one"]["finished"] is False
    assert {c["check"]: c["count"] for c in body["day_one"]["checks"]}["dead_lettered"] == 1
    assert body["orders"] == [] and body["reevaluations"] == []

    call("ops_chain_replay", "POST", "ops/chain/replay", body={"queue": "provisioning-order", "message_id": "order:p1.x:0"})
    rt.bus.complete(rt.bus.receive(rt.settings.queue("provisioning-order")))
    assert payload(view())["day_one"]["finished"] is True


def test_the_bus_dead_letters_of_a_queue_page_through_the_api(rt):
    ids = bus_dead_letters(rt, "group-update", 7)
    shown, params = [], {"queue": "group-update", "limit": "3"}
    while True:
        response = call("ops_chain_deadletters", "GET", "ops/chain/deadletters", params=params)
        assert response.status_code == 200
        shown += [d["message_id"] for d in payload(response)["items"]]
        if payload(response)["next"] is None:
            break
        params = {**params, "next": payload(response)["next"]}
    assert shown == ids
    forged = call("ops_chain_deadletters", "GET", "ops/chain/deadletters", params={**params, "next": "x.y"})
    assert forged.status_code == 400 and payload(forged)["errors"][0]["field"] == "next"
    unknown = call("ops_chain_deadletters", "GET", "ops/chain/deadletters", params={"queue": "nope"})
    assert unknown.status_code == 422 and payload(unknown)["errors"][0]["field"] == "queue"


def test_a_sweep_run_through_the_api_is_audited_with_the_caller(rt):
    response = call("ops_sweep", "POST", "ops/sweep", params={"limit": "10"})

    assert response.status_code == 200 and payload(response)["persons_checked"] == 0
    [record] = audit_trail(rt.store.table("ops"), "sweeps")
    assert record["action"] == "sweep.run" and record["actor"] != "anonymous"


def test_the_view_shows_the_last_ten_replays_whether_recent_or_old(rt):
    """Replays over a year: the view reads back only as far as it needs and still shows the
    ten newest, oldest first."""
    now = rt.clock.now()
    ops = rt.store.table("ops")
    ages = [timedelta(days=400), *(timedelta(days=40 + n) for n in range(8)), timedelta(days=2), timedelta(hours=1)]
    for n, age in enumerate(ages):
        ops.insert(audit_entity(REPLAYS, now - age, "ops", "deadletter.replayed", "replayed", {"n": n}))

    shown = operations.chain_view(rt)["replays"]

    assert [r["at"] for r in shown] == sorted(now - age for age in ages)[-10:]
    assert [r["details"]["n"] for r in shown][-2:] == [9, 10]
