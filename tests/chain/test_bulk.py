"""The bulk load's chunks against the chain one record at a time (docs/persons.md, Bulk load):
the same records give the same persons, memberships, orders, outbox, audit and messages
whichever way they come in; a crash at any write or publish inside a chunk is finished by
running the import again (each record then answers `unchanged` or finishes what it began,
nothing doubled) and the usual recovery (docs/architecture.md §10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.clock import TravelClock
from shared.errors import RosterError
from shared.faults import FaultPlan, SimulatedCrash
from shared.models.group import GroupIn
from shared.models.person import PersonUpdate
from shared.models.provisioning import Policy, Target
from shared.services import bulk, groups
from shared.services.chain import run_sync
from shared.services.provisioning import DIGEST_MINUTES
from shared.services.relay import SETTLE_AFTER, relay_stale
from shared.store.persons import PersonRepository
from shared.store.targets import TargetRepository
from tests.chain import harness
from tests.chain.harness import Roster, copy_data
from tests.factories import hr_update
from tests.helpers.snapshot import snapshot

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LOAD = START + timedelta(minutes=1)  # after the template's orders: order ids sort by creation
FIN_RULE = 'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -eq "FIN")'
HIRED, MOVED, EARLIER = "2026-11-01T08:00:00+00:00", "2026-11-02T08:00:00+00:00", "2026-10-01T08:00:00+00:00"


def record(source_id: str, as_of: str = HIRED, organization: str = "FIN", **changes) -> dict:
    body = hr_update(source_id=source_id, as_of=as_of)
    body["affiliations"][0].update(organization=organization, **changes)
    return body


def a_mix() -> list:
    """New, updated, unchanged, stale, held for a match, bad — and one source id several
    times in one call, which must apply in order."""
    not_a_date = record("E7")
    not_a_date["affiliations"][0]["start"] = "not a date"
    nameless = record("E8")
    del nameless["names"]
    return [
        record("E1"),  # created, joins fin
        record("E2", organization="ENG"),  # created, no group
        record("E1", MOVED, organization="ENG"),  # updated: leaves fin before anybody acted
        record("E2", organization="ENG"),  # unchanged
        record("E2", EARLIER, organization="ENG"),  # stale
        {**record("S1"), "source": "sis"},  # held: Ada again, from another source
        not_a_date,  # failed, affiliations[0].start
        record("E5", MOVED, end="2026-11-01"),  # updated: E5's job ended, leaves fin
        record("E6"),  # unchanged (as registered before)
        record("E3", start="2026-12-01", end=None),  # created, joins fin on a future date
        "not an object",  # failed
        nameless,  # failed: names are required for a new person
        record("E9", MOVED),  # created
    ]


KEYS = [("hr", s) for s in ("E1", "E2", "E3", "E5", "E6", "E7", "E8", "E9")] + [("sis", "S1")]


def prepared(path: Path, hook_url: str) -> Roster:
    """Four targets (manual, webhook, two behind approval) granted to one dynamic group,
    and E5 and E6 registered already."""
    roster = Roster(path, TravelClock(START))
    rt = roster.rt
    hook = {"url": hook_url, "secret_env": harness.SECRET_ENV, "timeout_seconds": 5, "retries": 1}
    for target in (Target(id="wiki", name="Wiki"), Target(id="hook", name="Hook", connector="webhook", settings=hook),
                   Target(id="gate", name="Gate", approval="threshold"),
                   Target(id="vault", name="Vault", connector="webhook", settings=hook, approval="always")):
        TargetRepository(rt.store).save(target)
        TargetRepository(rt.store).add_policy(target.id, Policy(group_id="fin"))
    groups.create_group(rt, GroupIn(id="fin", name="Finance", kind="dynamic", rule=FIN_RULE), "admin")
    roster.drain()
    for source_id in ("E5", "E6"):
        run_sync(rt, PersonUpdate.model_validate(record(source_id)), "hr-system")
    roster.drain()
    return roster


def one_by_one(roster: Roster, records: list) -> list[tuple[str | None, str]]:
    """Each record as `POST /api/persons` takes it: on its own, outside any unit of work."""
    answers = []
    for raw in records:
        try:
            update = PersonUpdate.model_validate(raw)
            answers.append((update.source_id, run_sync(roster.rt, update, "hr-system").registration.outcome))
        except (ValidationError, RosterError):
            answers.append((raw.get("source_id") if isinstance(raw, dict) else None, "failed"))
    return answers


@pytest.fixture
def hook(monkeypatch):
    monkeypatch.setenv(harness.SECRET_ENV, harness.SECRET)
    monkeypatch.setenv("ROSTER_ALLOW_LOOPBACK", "true")
    with harness.receiver() as r:
        yield r


@pytest.fixture
def base(tmp_path, hook) -> Path:
    roster = prepared(tmp_path / "template", hook.url)
    roster.close()
    return tmp_path / "template"


@pytest.mark.parametrize("chunk", [bulk.CHUNK, 4, 1])
def test_a_bulk_call_leaves_what_the_same_records_one_by_one_leave(base, tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(bulk, "CHUNK", chunk)  # 4: one source id's records fall in different chunks
    single = Roster(copy_data(base, tmp_path / "single"), TravelClock(LOAD))
    expected = one_by_one(single, a_mix())
    batched = Roster(copy_data(base, tmp_path / "bulk"), TravelClock(LOAD))
    answer = bulk.load(batched.rt, a_mix(), "hr-system")

    assert [(i.get("source_id"), i["outcome"]) for i in answer["items"]] == expected
    assert {o for _, o in expected} == {"created", "updated", "unchanged", "stale", "held", "failed"}
    fields = [e["field"] for i in answer["items"] if i["outcome"] == "failed" for e in i["errors"]]
    assert fields == ["affiliations[0].start", "body", "names"]
    ids = [i.get("person_id") for i in answer["items"]]
    assert ids[0] == ids[2] and ids[1] == ids[3] == ids[4] and ids[5] is None
    bulk_state, single_state = snapshot(batched.rt, KEYS), snapshot(single.rt, KEYS)
    emails = single_state["queues"].pop("notification")
    assert bulk_state["queues"].pop("notification") == 2 < emails  # a digest per worklist, not an email a person
    assert bulk_state == single_state
    assert bulk_state["relay marks"] == []  # every message published, every row settled
    single.close()
    batched.close()


def test_a_bulk_call_then_the_chain_delivers_as_after_one_by_one(base, tmp_path, hook):
    single = Roster(copy_data(base, tmp_path / "single"), TravelClock(LOAD))
    one_by_one(single, a_mix())
    expected = _delivered(single)
    single.close()
    batched = Roster(copy_data(base, tmp_path / "bulk"), TravelClock(LOAD))  # the process's runtime now
    bulk.load(batched.rt, a_mix(), "hr-system")
    assert _delivered(batched) == expected
    latest = {"E1": MOVED, "E2": HIRED, "E3": HIRED, "E5": MOVED, "E6": HIRED, "E9": MOVED}
    harness.assert_invariants(batched.rt, latest, hook)
    batched.close()


def _delivered(roster: Roster) -> dict:
    """The chain run to the end (the worklist digests' window passed too)."""
    roster.drain()
    roster.clock.advance(timedelta(minutes=DIGEST_MINUTES))
    roster.drain()
    return snapshot(roster.rt, KEYS)


CRASHED = [record("E1"), record("E2", organization="ENG"), record("E1", MOVED, organization="ENG"),
           record("E5", MOVED, end="2026-11-01"), record("E9")]
CRASHED_KEYS = [("hr", s) for s in ("E1", "E2", "E5", "E6", "E9")]


@pytest.mark.parametrize("chunk", [bulk.CHUNK, 2])
def test_an_import_interrupted_anywhere_in_a_chunk_is_finished_by_running_it_again(base, tmp_path, hook, monkeypatch,
                                                                                    chunk):
    monkeypatch.setattr(bulk, "CHUNK", chunk)  # 2: crashes in a later chunk, the earlier ones committed
    counted = FaultPlan()
    roster = Roster(copy_data(base, tmp_path / "count"), TravelClock(LOAD), counted)
    bulk.load(roster.rt, CRASHED, "hr-system")
    roster.close()
    seen = counted.seen
    assert {s.split()[0] for s in seen} >= {"batch", "insert", "upsert", "delete", "publish"}
    reference = Roster(copy_data(base, tmp_path / "reference"), TravelClock(LOAD))
    bulk.load(reference.rt, CRASHED, "hr-system")
    reference.recover()
    expected = snapshot(reference.rt, CRASHED_KEYS, exact=False)
    reference.close()

    for n in range(1, len(seen) + 1):
        try:
            _crash_rerun_and_check(base, tmp_path / f"run-{n}", n, hook, expected)
        except AssertionError as failure:
            raise AssertionError(f"crash before boundary {n} ({seen[n - 1]}): {failure}") from None


def _crash_rerun_and_check(base: Path, run: Path, crash_at: int, hook, expected: dict) -> None:
    roster = Roster(copy_data(base, run), TravelClock(LOAD), FaultPlan(crash_at))
    with pytest.raises(SimulatedCrash):
        bulk.load(roster.rt, CRASHED, "hr-system")
    roster = harness.restart(roster)
    rerun = [i["outcome"] for i in bulk.load(roster.rt, CRASHED, "hr-system")["items"]]
    assert set(rerun) <= {"created", "updated", "unchanged", "stale"}, rerun
    third = [i["outcome"] for i in bulk.load(roster.rt, CRASHED, "hr-system")["items"]]
    assert third == ["stale"] + ["unchanged"] * 4, third  # E1's first record is older than its second
    assert len({PersonRepository(roster.rt.store).owner_of("hr", s) for s in ("E1", "E2", "E5", "E6", "E9")}) == 5
    roster.recover()
    roster.clock.advance(SETTLE_AFTER)  # a mark whose batch never landed is left to the timer
    relay_stale(roster.rt)
    try:
        harness.assert_invariants(roster.rt, {"E1": MOVED, "E2": HIRED, "E5": MOVED, "E6": HIRED, "E9": HIRED}, hook)
        assert snapshot(roster.rt, CRASHED_KEYS, exact=False) == expected
    finally:
        roster.close()
