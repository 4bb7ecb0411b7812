"""The operations view behind the console's Operations page: the day-one verdict (a pure
function of the view, then in words), orders by state per target with its bound, the
re-evaluations with their progress, the bus's dead letters a page at a time, and a sweep
run by hand, audited (docs/operations.md)."""

from __future__ import annotations

import pytest

from shared.console.operations import letters, operations_page, verdict
from shared.errors import InvalidInput, InvalidToken
from shared.models.group import GroupIn
from shared.services import groups, operations, paging
from shared.services.order_counts import orders_by_state
from shared.store.audit import audit_trail
from shared.store.deadletters import DeadLetterRepository
from shared.store.jobs import JobRepository
from tests.factories import FIN_RULE
from tests.helpers.lists import bus_dead_letters, many_orders


def quiet_view(**over) -> dict:
    """A chain with nothing left to do, with `over` replacing sections."""
    view = {
        "queues": [{"queue": "person-update", "active": 0, "scheduled": 0, "dead_lettered": 0, "parked": []}],
        "targets": [{"target_id": "hr-app", "circuit": "closed", "waiting": 0}],
        "orders": [{"target_id": "wiki", "connector": "manual",
                    "counts": {"AwaitingApproval": 0, "Pending": 0, "Transmitted": 0, "Errored": 0}}],
        "reevaluations": [{"group_id": "fin", "finished_at": "2026-11-02T09:00:00+00:00"}],
        "outbox": {"backlog": 0},
    }
    return {**view, **over}


def test_a_quiet_chain_has_finished_day_one():
    day_one = operations.day_one(quiet_view())
    words = verdict(day_one)

    assert day_one["finished"] is True and all(c["ok"] for c in day_one["checks"])
    assert words["headline"] == "Yes: the chain has finished its work" and words["notes"] == []
    assert [c["words"] for c in words["checks"]] == [
        "Nothing waiting in the queues", "No dead letters", "No outbox backlog", "No automatic order waiting",
        "No target paused", "No re-evaluation running"]


@pytest.mark.parametrize(("over", "left"), [
    ({"queues": [{"queue": "q", "active": 3, "scheduled": 0, "dead_lettered": 0, "parked": []}]},
     "Messages waiting in the queues: 3"),
    ({"queues": [{"queue": "q", "active": 0, "scheduled": 0, "dead_lettered": 1, "parked": []}]},
     "Dead letters on the bus: 1"),
    ({"outbox": {"backlog": 2}}, "Messages in the outbox backlog: 2"),
    ({"targets": [{"target_id": "hr-app", "circuit": "closed", "waiting": 1200}]},
     "Automatic orders waiting (Pending): 1,200"),
    ({"targets": [{"target_id": "hr-app", "circuit": "half-open", "waiting": 0}]},
     "Targets paused (circuit not closed): 1"),
    ({"reevaluations": [{"group_id": "fin", "finished_at": None}]}, "Re-evaluations running: 1"),
])
def test_anything_left_means_day_one_has_not_finished_and_says_what(over, left):
    words = verdict(operations.day_one(quiet_view(**over)))

    assert words["finished"] is False and words["headline"] == "Not yet"
    assert [c["words"] for c in words["checks"] if c["ok"] is False] == [left]


def test_a_bus_that_cannot_be_read_makes_the_verdict_unknown_not_finished():
    unread = [{"queue": "q", "active": None, "scheduled": None, "dead_lettered": None, "parked": []}]

    words = verdict(operations.day_one(quiet_view(queues=unread)))

    assert words["finished"] is None and words["headline"].startswith("Cannot tell")
    assert [c["words"] for c in words["checks"] if c["ok"] is None] == [
        "The queue depths cannot be read", "The dead letters cannot be counted"]


def test_staff_work_refused_and_scheduled_messages_are_notes_not_failures():
    view = quiet_view(
        queues=[{"queue": "q", "active": 0, "scheduled": 4, "dead_lettered": 0, "parked": [{"message_id": "bad"}]}],
        orders=[{"target_id": "wiki", "connector": "manual",
                 "counts": {"AwaitingApproval": 1, "Pending": 0, "Transmitted": 5, "Errored": 2}},
                {"target_id": "hr-app", "connector": "webhook",
                 "counts": {"AwaitingApproval": 3, "Pending": 0, "Transmitted": 9, "Errored": 0}}])

    words = verdict(operations.day_one(view))

    assert words["finished"] is True
    assert words["notes"] == [
        "Messages scheduled for later (dated changes, digests, retries): 4",
        "Messages refused as malformed (never retried: fix them at the source): 1",
        "Orders waiting on staff (worklists and approvals): 9",
        "Orders Errored (retry them on the worklist): 2"]


def test_orders_are_counted_by_state_per_target_up_to_the_bound(rt):
    many_orders(rt, 7)

    [wiki] = orders_by_state(rt, bound=5)
    [exact] = orders_by_state(rt, bound=7)

    assert (wiki["target_id"], wiki["connector"]) == ("wiki", "manual")
    assert wiki["counts"]["Transmitted"] == 5 and wiki["capped"] == ["Transmitted"]
    assert exact["counts"]["Transmitted"] == 7 and exact["capped"] == []
    assert sum(exact["counts"].values()) == 7


def test_reevaluations_list_running_ones_first_with_their_progress(rt, clock):
    for group_id in ("done", "running"):
        groups.create_group(rt, GroupIn(id=group_id, name=group_id.title(), kind="dynamic", rule=FIN_RULE), "admin")
    jobs = JobRepository(rt.store)
    done_job = jobs.progress("done")["job_id"]
    for bucket in range(256):
        jobs.finish_bucket("done", done_job, f"{bucket:02x}", 1, clock.now())
    jobs.finish_bucket("running", jobs.progress("running")["job_id"], "00", 3, clock.now())

    listed = groups.reevaluations(rt)

    assert [(j["group_id"], j["batches_done"], j["persons_done"]) for j in listed] == [("running", 1, 3),
                                                                                       ("done", 256, 256)]
    assert listed[0]["finished_at"] is None and listed[1]["finished_at"] == clock.now()
    assert operations.chain_view(rt)["day_one"]["checks"][-1] == {
        "check": "reevaluations_running", "count": 1, "ok": False}


def test_the_bus_dead_letters_page_with_the_next_token_each_once(rt):
    ids = bus_dead_letters(rt, "group-update", 25)

    first = letters(rt, "group-update", "bus", None)
    second = letters(rt, "group-update", "bus", first["following"])

    assert [d["message_id"] for d in first["shown"] + second["shown"]] == ids
    assert len(first["shown"]) == 20 and second["following"] is None and second["paged"]
    assert all("body" not in d for d in first["shown"])  # bodies may hold personal data


def test_a_forged_token_or_one_of_the_other_list_is_refused_naming_next(rt):
    bus_dead_letters(rt, "group-update", 25)
    bus_token = letters(rt, "group-update", "bus", None)["following"]

    for kind, token in (("bus", "forged.token"), ("refused", bus_token)):
        with pytest.raises(InvalidToken) as refused:
            letters(rt, "group-update", kind, token)
        assert refused.value.status == 400 and refused.value.errors[0].field == "next"
    with pytest.raises(InvalidToken):  # another queue's list
        operations.dead_letter_page(rt, "person-update", paging.page("ops.deadletters", {"queue": "person-update"},
                                                                     None, bus_token))


def test_the_page_opens_the_first_queue_with_dead_letters_and_refuses_unknown_ones(rt):
    DeadLetterRepository(rt.store).park("person-update", "bad-1", b"{}", "MalformedJson", "x", rt.clock.now())
    assert operations_page(rt, None, None, None)["letters"]["kind"] == "refused"
    bus_dead_letters(rt, "provisioning-order", 1)
    chosen = operations_page(rt, None, None, None)["letters"]
    assert (chosen["queue"], chosen["kind"], len(chosen["shown"])) == ("provisioning-order", "bus", 1)

    for queue, kind, field in (("nope", None, "queue"), ("person-update", "all", "kind")):
        with pytest.raises(InvalidInput) as refused:
            operations_page(rt, queue, kind, None)
        assert refused.value.errors[0].field == field


def test_a_sweep_run_by_hand_is_audited_with_who_asked_and_its_figures(rt):
    figures = operations.run_sweep(rt, 50, "apikey:1a2b3c4d")

    [record] = audit_trail(rt.store.table("ops"), operations.SWEEPS)
    assert (record["actor"], record["action"]) == ("apikey:1a2b3c4d", "sweep.run")
    assert record["details"]["persons_checked"] == figures["persons_checked"] == 0
    assert operations.chain_view(rt)["last_sweep"]["started_at"] == figures["started_at"]
