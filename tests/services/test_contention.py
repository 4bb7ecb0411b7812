"""The one optimistic-concurrency helper (docs/architecture.md §10): a lost race is re-run
from its read, a few times, then Busy."""

from __future__ import annotations

import pytest

from shared.errors import Busy
from shared.store import contention
from shared.store.port import EntityExists, ETagMismatch


def flaky(failures: int, error: type[Exception]):
    calls = []

    def step():
        calls.append(1)
        if len(calls) <= failures:
            raise error("someone else wrote first")
        return len(calls)

    return step, calls


@pytest.mark.parametrize("error", [ETagMismatch, EntityExists])
def test_a_step_that_loses_a_few_races_is_run_again_until_it_commits(error, monkeypatch):
    monkeypatch.setattr(contention.time, "sleep", lambda _: None)
    step, calls = flaky(5, error)
    assert contention.retrying(step, "busy") == 6 and len(calls) == 6


def test_after_the_attempts_of_the_policy_it_gives_up_busy(monkeypatch):
    pauses = []
    monkeypatch.setattr(contention.time, "sleep", pauses.append)
    step, calls = flaky(10_000, ETagMismatch)
    with pytest.raises(Busy, match="the person is being changed"):
        contention.retrying(step, "the person is being changed by others; retry")
    assert len(calls) == contention.ATTEMPTS
    assert all(0 <= p <= contention.PAUSE_CAP for p in pauses) and sum(pauses) <= contention.ATTEMPTS * contention.PAUSE_CAP


def test_any_other_failure_is_not_a_race_and_is_not_retried(monkeypatch):
    step, calls = flaky(1, ValueError)
    with pytest.raises(ValueError):
        contention.retrying(step, "busy")
    assert len(calls) == 1


def test_a_stores_own_counter_uses_the_same_policy_and_gives_up_quietly(rt, monkeypatch):
    monkeypatch.setattr(contention.time, "sleep", lambda _: None)
    table = rt.store.table("counters")
    add = lambda entity: {"n": (entity.properties["n"] if entity else 0) + 1}  # noqa: E731
    assert contention.read_modify_write(table, "p", "r", add) == {"n": 1}
    assert contention.read_modify_write(table, "p", "r", add) == {"n": 2}

    class Contended:  # every replace loses the race to another writer
        get = staticmethod(table.get)

        @staticmethod
        def replace(entity, etag):
            raise ETagMismatch("someone else wrote first")

    assert contention.read_modify_write(Contended(), "p", "r", add) is None
    assert table.get("p", "r").properties["n"] == 2
