"""The bulk load on worker processes (ROSTER_BULK_WORKERS=2, shared/services/bulk_workers.py)
against the same load chunk after chunk in-process: the same answers record for record and the
same rows, messages and audit — also when a worker is killed while it computes or commits,
and when another writer changes a person of a chunk in flight. Real `spawn` workers."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from pathlib import Path

import pytest

from shared.clock import TravelClock
from shared.models.person import PersonUpdate
from shared.runtime import use_runtime
from shared.services import bulk, bulk_workers
from shared.services.chain import run_sync
from shared.services.relay import SETTLE_AFTER
from shared.store.persons import PersonRepository
from tests.chain import test_bulk
from tests.chain.harness import Roster, copy_data
from tests.chain.test_bulk import KEYS, LOAD, MOVED, a_mix, record
from tests.helpers.snapshot import snapshot

hook, base = test_bulk.hook, test_bulk.base  # the serial tests' fixtures: a webhook receiver, the prepared template

PARALLEL = {"ROSTER_BULK_WORKERS": "2"}


@pytest.fixture(autouse=True)
def stopped_workers():
    """Each test starts its own workers and leaves none behind."""
    bulk_workers.STATS.clear()
    yield
    bulk_workers.shutdown()


def loaded(base: Path, run: Path, records: list, more: dict[str, str] | None = None) -> tuple[Roster, dict]:
    roster = Roster(copy_data(base, run), TravelClock(LOAD), more_settings=more or {})
    return roster, bulk.load(roster.rt, records, "hr-system")


def answers(answer: dict) -> list[tuple]:
    return [(i["index"], i.get("source_id"), i["outcome"], bool(i.get("person_id")), str(i.get("errors")))
            for i in answer["items"]]


@pytest.mark.parametrize("chunk", [2, 4])
def test_a_mixed_load_on_two_workers_answers_and_leaves_what_the_serial_load_does(base, tmp_path, monkeypatch,
                                                                                  chunk):
    """Joiners, a mover, a leaver, a future joiner, one source id in two chunks with a later
    as_of, a record held because it matches a person of an earlier chunk, malformed records."""
    monkeypatch.setattr(bulk, "CHUNK", chunk)  # 2: E1's records fall in chunks 0 and 1, S1 (matches E1) in 2
    serial, expected = loaded(base, tmp_path / "serial", a_mix())
    parallel, answer = loaded(base, tmp_path / "parallel", a_mix(), PARALLEL)

    assert answers(answer) == answers(expected)
    assert answer["summary"] == expected["summary"]
    assert {o for o in expected["summary"]} == {"created", "updated", "unchanged", "stale", "held", "failed"}
    assert bulk_workers.STATS["chunks"] == -(-len(a_mix()) // chunk)  # every chunk went through a worker
    assert snapshot(parallel.rt, KEYS) == snapshot(serial.rt, KEYS)
    ids = [i.get("person_id") for i in answer["items"]]
    assert ids[0] == ids[2] and ids[5] is None  # E1 one person across chunks; S1 held as E1's match
    serial.close()
    parallel.close()


def test_one_worker_setting_keeps_the_load_in_process(base, tmp_path, monkeypatch):
    monkeypatch.setattr(bulk, "CHUNK", 2)
    roster, answer = loaded(base, tmp_path / "one", a_mix(), {"ROSTER_BULK_WORKERS": "1"})
    assert bulk_workers.STATS["chunks"] == 0 and bulk_workers._pool is None
    assert answer["summary"]["created"] == 4
    roster.close()


def test_a_dry_run_stays_in_process_and_writes_nothing(base, tmp_path, monkeypatch):
    monkeypatch.setattr(bulk, "CHUNK", 2)
    roster = Roster(copy_data(base, tmp_path / "dry"), TravelClock(LOAD), more_settings=PARALLEL)
    answer = bulk.load(roster.rt, a_mix(), "hr-system", dry_run=True)
    assert answer["dry_run"] and bulk_workers._pool is None
    assert PersonRepository(roster.rt.store).owner_of("hr", "E1") is None
    roster.close()


def test_closing_the_runtime_stops_its_workers(base, tmp_path, monkeypatch):
    monkeypatch.setattr(bulk, "CHUNK", 2)
    roster, _ = loaded(base, tmp_path / "closing", a_mix(), PARALLEL)
    processes = [w.process for w in bulk_workers._pool.workers]
    assert len(processes) == 2 and all(p.is_alive() for p in processes)
    roster.close()
    assert bulk_workers._pool is None and not any(p.is_alive() for p in processes)


# -- a worker killed ----------------------------------------------------------------------------


def killing(monkeypatch, when: str, chunk: int = 1) -> list[int]:
    """SIGKILL the worker holding `chunk` when the parent hears it has computed it (`computed`),
    after it answered so but just before the parent tells it to commit (`dead at commit`: the
    parent finds out by the send), right after the parent told it to commit (`committing`: it
    dies before, during or after its commit), or once it has committed but before its answer
    is read (`committed`)."""
    killed: list[int] = []
    receive, send = bulk_workers.Worker.receive, bulk_workers.Worker.send

    def kill(worker) -> None:
        killed.append(worker.process.pid)
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.join()

    def receiving(worker):
        answer = receive(worker)
        if not killed and worker.chunk == chunk and answer[0] == when:
            kill(worker)
            raise EOFError  # the answer never arrived
        return answer

    def sending(worker, *message):
        if not killed and when == "dead at commit" and message[0] == "commit" and worker.chunk == chunk:
            kill(worker)
        send(worker, *message)
        if not killed and when == "committing" and message[0] == "commit" and worker.chunk == chunk:
            kill(worker)

    monkeypatch.setattr(bulk_workers.Worker, "receive", receiving)
    monkeypatch.setattr(bulk_workers.Worker, "send", sending)
    return killed


@pytest.mark.parametrize("when", ["computed", "dead at commit", "committing", "committed"])
def test_a_worker_killed_leaves_every_record_answered_and_the_serial_rows(base, tmp_path, monkeypatch, when):
    monkeypatch.setattr(bulk, "CHUNK", 2)
    serial, expected = loaded(base, tmp_path / "serial", a_mix())
    killed = killing(monkeypatch, when)
    parallel, answer = loaded(base, tmp_path / "parallel", a_mix(), PARALLEL)

    assert len(killed) == 1 and bulk_workers.STATS["lost"] == 1
    redone = {2, 3}  # chunk 1's records
    got, wanted = answers(answer), answers(expected)
    assert [a for a in got if a[0] not in redone] == [a for a in wanted if a[0] not in redone]
    if when == "committed":  # it had committed: the redo finds its records there
        assert [a[2] for a in got if a[0] in redone] == ["unchanged", "unchanged"]  # E1 moved, E2 stored
    elif when in ("computed", "dead at commit"):  # nothing of it was written: the redo is the first
        assert got == wanted
    for roster in (serial, parallel):
        use_runtime(roster.rt)  # the triggers the drain calls serve the process's runtime
        roster.recover()  # a mark of a commit whose publishing died is relayed by the timer
        roster.clock.advance(SETTLE_AFTER)
        roster.recover()
    assert snapshot(parallel.rt, KEYS, exact=False) == snapshot(serial.rt, KEYS, exact=False)
    assert all(w.process.is_alive() for w in bulk_workers._pool.workers)  # replaced
    serial.close()
    parallel.close()


# -- another writer meanwhile -------------------------------------------------------------------


def test_a_person_changed_by_another_writer_while_its_chunk_is_in_flight_ends_serializable(base, tmp_path,
                                                                                             monkeypatch, caplog):
    """E1 moved by a single `POST /api/persons` (a later as_of) while the bulk chunk that
    registers E1's earlier record has been computed but not committed: the chunk's commit finds
    its reads changed, it is redone under the lock, and the later as_of wins."""
    monkeypatch.setattr(bulk, "CHUNK", 2)
    records = [record("E2", organization="ENG"), record("E9"), record("E1"), record("E3")]
    roster = Roster(copy_data(base, tmp_path / "race"), TravelClock(LOAD), more_settings=PARALLEL)
    receive = bulk_workers.Worker.receive
    single: list[str] = []

    def receiving(worker):
        answer = receive(worker)
        if not single and worker.chunk == 1 and answer[0] == "computed":
            moved = PersonUpdate.model_validate(record("E1", MOVED, organization="ENG"))
            writer = threading.Thread(target=lambda: single.append(
                run_sync(roster.rt, moved, "hr-system").registration.outcome))
            writer.start()
            writer.join()
        return answer

    monkeypatch.setattr(bulk_workers.Worker, "receive", receiving)
    caplog.set_level("INFO", logger="roster.bulk")
    answer = bulk.load(roster.rt, records, "hr-system")

    assert single == ["created"]
    assert [i["outcome"] for i in answer["items"]] == ["created", "created", "stale", "created"]
    assert bulk_workers.STATS["redone"] >= 1
    redone = [r.getMessage() for r in caplog.records if r.name == "roster.bulk"]
    assert redone and all("a read of table" in m and "E1" not in m for m in redone)  # the table, never a key
    persons = PersonRepository(roster.rt.store)
    stored = persons.get(persons.owner_of("hr", "E1")).person
    assert stored.sources["hr"].as_of.isoformat() == MOVED and stored.affiliations[0].organization == "ENG"
    roster.close()


def test_two_bulk_calls_at_once_take_turns_with_the_workers_and_both_are_answered(base, tmp_path, monkeypatch):
    monkeypatch.setattr(bulk, "CHUNK", 2)
    roster = Roster(copy_data(base, tmp_path / "two"), TravelClock(LOAD), more_settings=PARALLEL)
    calls = {side: [record(f"{side}{n}") for n in range(6)] for side in ("A", "B")}
    answers_of: dict[str, dict] = {}
    threads = [threading.Thread(target=lambda side=side: answers_of.__setitem__(
        side, bulk.load(roster.rt, calls[side], "hr-system"))) for side in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert {side: answer["summary"] for side, answer in answers_of.items()} == {"A": {"created": 6},
                                                                                "B": {"created": 6}}
    assert bulk_workers.STATS["chunks"] == 6
    persons = PersonRepository(roster.rt.store)
    assert len({persons.owner_of("hr", r["source_id"]) for rs in calls.values() for r in rs} - {None}) == 12
    roster.close()


# -- a chunk that fails ---------------------------------------------------------------------------


def refusing(data: Path, family: str) -> None:
    """The store's own file refuses any person named `family` (an SQLite trigger): a write
    that fails inside the chain, in whichever process writes it."""
    db = sqlite3.connect(data / "roster.db")
    for event in ("INSERT", "UPDATE"):
        db.execute(f"CREATE TRIGGER refuse_{event.lower()} BEFORE {event} ON t_persons "
                   f"WHEN NEW.props LIKE '%{family}%' BEGIN SELECT RAISE(ABORT, 'refused'); END")
    db.commit()
    db.close()


def test_a_write_the_store_refuses_fails_its_record_alone_as_in_the_serial_load(base, tmp_path, monkeypatch):
    """Chunk 1's second record cannot be stored. In a worker that shows only at the chunk's
    commit (its writes were held back), which then writes nothing and is redone under the
    lock — where the record fails alone, as it does in one process; the rest lands."""
    monkeypatch.setattr(bulk, "CHUNK", 2)
    records = [{**record(f"F{n}"), "names": {"given": given, "family": family},
                "emails": [{"address": f"{given}.{family}@example.edu".lower(), "type": "work"}]}
               for n, (given, family) in enumerate([("Grace", "Hopper"), ("Alan", "Turing"), ("Edsger", "Dijkstra"),
                                                    ("Barbara", "Refused"), ("Donald", "Knuth"), ("Frances", "Allen")])]
    found = {}
    for name, more in (("serial", {}), ("parallel", PARALLEL)):
        roster = Roster(copy_data(base, tmp_path / name), TravelClock(LOAD), more_settings=more)
        refusing(roster.data, "Refused")
        found[name] = answers(bulk.load(roster.rt, records, "hr-system"))
        found[f"{name} rows"] = snapshot(roster.rt, [("hr", r["source_id"]) for r in records if r is not records[3]])
        roster.close()

    assert [a[2] for a in found["serial"]] == ["created"] * 3 + ["failed"] + ["created"] * 2
    assert found["parallel"] == found["serial"]
    assert found["parallel rows"] == found["serial rows"]
    assert bulk_workers.STATS["redone"] == 1  # the refused commit, redone under the lock (no two share a block)


# -- the worker's side, in process ------------------------------------------------------------------


def test_a_dropped_chunk_leaves_no_unit_behind_on_the_worker_thread(base, tmp_path):
    """A chunk computed, then dropped (a later chunk of a load that failed): nothing of it is
    written, and nothing of it stays referenced by the relay on the worker's thread."""
    from multiprocessing import Pipe

    from shared.services import relay

    roster = Roster(copy_data(base, tmp_path / "p"), TravelClock(LOAD))
    parent, worker = Pipe()
    parent.send(("drop",))  # the parent's answer to "computed", waiting in the pipe
    before = set(relay._open_units())
    try:
        answer = bulk_workers._chunk(roster.rt, worker, list(enumerate([record("E1"), record("E2")])),
                                     "hr-system", {})

        assert answer == ("dropped",) and parent.recv()[0] == "computed"
        assert set(relay._open_units()) <= before  # the dropped chunk's unit is not among them
        assert PersonRepository(roster.rt.store).owner_of("hr", "E1") is None
    finally:
        roster.close()


def test_an_after_commit_action_failing_once_the_chunk_is_durable_is_raised_not_redone(base, tmp_path):
    """The chunk's commit landed; then publishing (an after-commit action) fails: the serial
    path raises that error, so the worker answers `raised` — it does not redo a chunk that
    is already written (its records would answer `unchanged`)."""
    from dataclasses import replace

    from shared.store.optimistic import OptimisticUnit
    from shared.store.port import StoreError

    roster = Roster(copy_data(base, tmp_path / "p"), TravelClock(LOAD))
    try:
        view = OptimisticUnit(roster.rt.store)
        chunk = list(enumerate([record("E1")]))
        results = bulk._applied(replace(roster.rt, store=view), chunk, "hr-system")
        view.after_commit(lambda: (_ for _ in ()).throw(StoreError("sqlite: database is locked")))
        redone = []

        answer = bulk_workers._committed(roster.rt, view, chunk, "hr-system", results, None,
                                         lambda *args: redone.append(args) or [])

        assert answer[0] == "raised" and "database is locked" in str(answer[1]) and redone == []
        assert view.durable and PersonRepository(roster.rt.store).owner_of("hr", "E1") is not None
    finally:
        roster.close()
