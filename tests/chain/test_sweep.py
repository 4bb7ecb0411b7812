"""The self-healing sweep (docs/architecture.md §10): what it repairs, that each repair is
audited, that a run is bounded and the cursor covers everyone, and its Admin route."""

from __future__ import annotations

import json
from datetime import timedelta

import azure.functions as func
import pytest

from shared.config import Settings, SettingsError
from shared.models.group import GroupIn
from shared.models.person import PersonUpdate
from shared.models.provisioning import OrderState, Policy, Target
from shared.services import groups
from shared.services.chain import run_sync
from shared.services.sweep import STUCK_AFTER, last_sweep, sweep
from shared.store.groups import MembershipRepository, group_partition
from shared.store.orders import OrderRepository
from shared.store.persons import PersonRepository
from shared.store.targets import TargetRepository
from tests.chain.harness import app_functions
from tests.factories import hr_update

RULE = 'person.affiliations -any (affiliation.organization -eq "FIN")'


@pytest.fixture
def wiki(rt):
    """A manual target granted to a dynamic Finance group."""
    TargetRepository(rt.store).save(Target(id="wiki", name="Wiki"))
    groups.create_group(rt, GroupIn(id="fin", name="Finance", kind="dynamic", rule=RULE), "admin")
    TargetRepository(rt.store).add_policy("wiki", Policy(group_id="fin"))


def hire(rt, source_id: str = "E1") -> str:
    return run_sync(rt, PersonUpdate.model_validate(hr_update(source_id=source_id)), "hr").registration.person.id


def healed(rt, person_id: str) -> list[str]:
    return [r["why"] for r in PersonRepository(rt.store).trail(person_id) if r["action"] == "sweep.healed"]


def test_a_member_whose_create_account_was_lost_gets_it_back_audited(rt, wiki):
    person_id = hire(rt)
    repo = OrderRepository(rt.store)
    [order] = repo.of_person(person_id)
    repo.table.delete(f"person:{person_id}", f"o|{order.id}")  # as an old crash would leave it
    repo.table.delete(f"person:{person_id}", "a|wiki|account")
    repo.unlist(order, order.state)
    figures = sweep(rt)
    assert figures["repairs"] == {"missing order": 1}
    [again] = repo.of_person(person_id)
    assert (again.action.value, again.state) == ("create_account", OrderState.transmitted)
    assert "healed" in again.reason and repo.listed_in(again) == [OrderState.transmitted]
    assert healed(rt, person_id) == ["healed: missing order"]


def test_a_manual_order_left_pending_goes_onto_the_worklist_once_it_is_stuck(rt, wiki, clock):
    person_id = hire(rt)
    repo = OrderRepository(rt.store)
    [order] = repo.of_person(person_id)
    stuck = order.model_copy(update={"state": OrderState.pending, "history": order.history[:1]})
    _, etag = repo.get(order.id)
    repo.commit(person_id, [(stuck, etag, OrderState.transmitted)], [], [])
    assert sweep(rt)["repairs"] == {}  # just written: maybe still on its way
    clock.advance(STUCK_AFTER + timedelta(seconds=1))
    assert sweep(rt)["repairs"] == {"stuck order": 1}
    assert repo.get(order.id)[0].state == OrderState.transmitted
    assert repo.listed_in(repo.get(order.id)[0]) == [OrderState.transmitted]


def test_index_rows_and_the_group_mirror_are_made_to_agree_with_the_person_side(rt, wiki):
    person_id = hire(rt)
    orders, memberships = OrderRepository(rt.store), MembershipRepository(rt.store)
    [order] = orders.of_person(person_id)
    orders.list_in(order, OrderState.pending)  # a stale listing
    orders.table.delete("assigned:wiki", f"{person_id}|account")
    memberships.table.delete(group_partition("fin"), person_id)
    figures = sweep(rt)
    assert figures["repairs"] == {"assignment index": 1, "group mirror": 1, "order index": 1}
    assert orders.listed_in(order) == [OrderState.transmitted]
    assert list(memberships.mirrored_person_ids("fin")) == [person_id]
    assert sorted(healed(rt, person_id)) == ["healed: assignment index", "healed: group mirror", "healed: order index"]
    assert sweep(rt)["repairs"] == {}  # healed for good


def test_runs_are_bounded_and_the_cursor_covers_everyone_in_passes(rt, wiki):
    ids = {hire(rt, f"E{n}") for n in range(5)}
    runs = []
    for _ in range(3):
        figures = sweep(rt, limit=2)
        runs.append((figures["persons_checked"], figures["pass_completed"]))
    assert runs == [(2, False), (2, False), (1, True)]
    assert last_sweep(rt)["passes_completed"] == 1 and last_sweep(rt)["persons_checked"] == 1
    assert sweep(rt, limit=10)["persons_checked"] == len(ids)


def test_the_sweep_route_needs_admin_and_a_sane_limit(rt, wiki):
    hire(rt)
    run = app_functions()["ops_sweep"]

    def post(key: str, limit: str | None = None) -> func.HttpResponse:
        return run(func.HttpRequest("POST", "http://localhost/api/ops/sweep", headers={
            "authorization": f"Bearer {key}"}, params={"limit": limit} if limit else {}, body=b""))

    assert post("hr-key").status_code == 403
    bad = post("admin-key", "0")
    assert bad.status_code == 422 and json.loads(bad.get_body())["errors"][0]["field"] == "limit"
    done = post("admin-key", "50")
    assert done.status_code == 200 and json.loads(done.get_body())["persons_checked"] == 1


@pytest.mark.parametrize("value", ["0", "-3", "lots", "100001"])
def test_a_bad_sweep_batch_setting_is_refused_by_name(value):
    with pytest.raises(SettingsError, match="ROSTER_SWEEP_BATCH"):
        Settings.from_env({"ROSTER_SWEEP_BATCH": value})
    assert Settings.from_env({"ROSTER_SWEEP_BATCH": "5000"}).sweep_batch == 5000
