"""Manual-order notices people read: one digest per target per batch, with counts and a link."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from datetime import timedelta

import pytest

from shared.models.person import PersonUpdate
from shared.models.provisioning import Policy
from shared.services import bulk
from shared.services.membership import evaluate_person
from shared.services.provisioning import DIGEST_MINUTES, evaluate_provisioning
from shared.services.registration import register
from shared.store.audit import audit_entity
from shared.store.orders import OrderRepository
from shared.store.targets import TargetRepository
from tests.factories import hr_update
from tests.people.helpers import deliver, finance_wiki


def test_queue_driven_evaluations_tell_the_desk_once_per_target_per_window(rt):
    finance_wiki(rt)
    for n in range(3):  # HR updates through the queue: registration and groups, then provisioning
        update = PersonUpdate.model_validate(hr_update(source_id=f"E{n}", names={"given": "Ada", "family": f"L{n}"}))
        person_id = register(rt, update, "hr", announce=False).person.id
        evaluate_person(rt, person_id, "hr update", announce=False)
        evaluate_provisioning(rt, person_id, "hr update", windowed=True)  # as the group-update trigger does
    assert deliver(rt) == []  # nothing yet: the window is open
    rt.clock.advance(timedelta(minutes=DIGEST_MINUTES))
    [digest] = deliver(rt)
    assert digest.subject == "3 new manual provisioning orders for Wiki"
    assert "- 3 account(s) to create" in digest.text and "/api/console/worklist?target=wiki" in digest.text
    assert deliver(rt) == []  # sent once; the counts are forgotten


def test_a_digest_without_counts_sends_nothing(rt):
    from shared.models.messages import DigestRef
    from shared.services.provisioning import send_digest

    finance_wiki(rt)
    send_digest(rt, DigestRef(digest="wiki", window="20261102T0900"))
    assert list(rt.mail.sent()) == []


def test_a_bulk_load_tells_the_desk_once_per_target_per_window_with_every_chunk_counted(rt, monkeypatch):
    finance_wiki(rt)
    monkeypatch.setattr(bulk, "CHUNK", 2)  # three chunks: each adds its counts to the window's digest
    records = [hr_update(source_id=f"B{n}", names={"given": "Ada", "family": f"B{n}"},
                         emails=[{"address": f"b{n}@example.edu", "type": "work"}]) for n in range(5)]
    records.append(hr_update(source_id="B9", names={"given": "Alan", "family": "Turing"}, affiliations=[],
                             emails=[{"address": "b9@example.edu", "type": "work"}]))  # no group, no order
    answer = bulk.load(rt, records, "hr")
    assert answer["summary"] == {"created": 6}
    assert OrderRepository(rt.store).digest("wiki", "20261102T0900") == {"create_account": 5}
    assert deliver(rt) == []  # one scheduled digest message for the window, not yet due
    rt.clock.advance(timedelta(minutes=DIGEST_MINUTES))
    [digest] = deliver(rt)
    assert digest.subject == "5 new manual provisioning orders for Wiki"
    assert "- 5 account(s) to create" in digest.text


def test_a_bulk_chunk_that_fails_half_way_still_tells_the_desk_of_the_orders_it_stored(rt, monkeypatch):
    finance_wiki(rt)
    applied = bulk._apply

    def failing(rt_, index, update, *rest):
        if index == 2:
            raise RuntimeError("the store went away")
        return applied(rt_, index, update, *rest)

    monkeypatch.setattr(bulk, "_apply", failing)
    records = [hr_update(source_id=f"B{n}", names={"given": "Ada", "family": f"B{n}"},
                         emails=[{"address": f"b{n}@example.edu", "type": "work"}]) for n in range(4)]
    with pytest.raises(RuntimeError):
        bulk.load(rt, records, "hr")
    assert OrderRepository(rt.store).digest("wiki", "20261102T0900") == {"create_account": 2}


class _EveryBatchAlone:
    """The store as Table Storage behaves: a unit of work is no transaction, nothing is
    deferred to before its commit, and an after-commit action runs at once."""

    def __init__(self, inner):
        self._inner = inner

    @contextmanager
    def unit_of_work(self):
        yield

    def before_commit(self, action) -> bool:
        return False

    def after_commit(self, action) -> None:
        action()

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_on_table_storage_a_bulk_chunk_counts_each_record_s_worklist_orders_as_they_are_stored(rt, monkeypatch):
    finance_wiki(rt)
    applied, counted_before = bulk._apply, []

    def watching(rt_, index, update, *rest):
        counted_before.append(OrderRepository(rt.store).digest("wiki", "20261102T0900"))
        return applied(rt_, index, update, *rest)

    monkeypatch.setattr(bulk, "_apply", watching)
    records = [hr_update(source_id=f"B{n}", names={"given": "Ada", "family": f"B{n}"},
                         emails=[{"address": f"b{n}@example.edu", "type": "work"}]) for n in range(3)]
    answer = bulk.load(dataclasses.replace(rt, store=_EveryBatchAlone(rt.store)), records, "hr")
    assert answer["summary"] == {"created": 3}
    # no batch waits for the chunk's end there: a crash mid-chunk loses no record's count
    assert counted_before == [{}, {"create_account": 1}, {"create_account": 2}]
    assert OrderRepository(rt.store).digest("wiki", "20261102T0900") == {"create_account": 3}


def test_on_table_storage_each_record_of_a_bulk_chunk_sees_the_policies_of_its_moment(rt, monkeypatch):
    finance_wiki(rt)
    applied = bulk._apply

    def withdrawn_after_the_second(rt_, index, update, *rest):
        result = applied(rt_, index, update, *rest)
        if index == 1:  # an admin withdraws the wiki policy while the chunk runs
            audit = audit_entity("policy:wiki", rt.clock.now(), "admin", "policy.removed", "withdrawn", {})
            TargetRepository(rt.store).remove_policy("wiki", Policy(group_id="fin-employees"), audit)
        return result

    monkeypatch.setattr(bulk, "_apply", withdrawn_after_the_second)
    records = [hr_update(source_id=f"B{n}", names={"given": "Ada", "family": f"B{n}"},
                         emails=[{"address": f"b{n}@example.edu", "type": "work"}]) for n in range(4)]
    bulk.load(dataclasses.replace(rt, store=_EveryBatchAlone(rt.store)), records, "hr")
    # every batch there commits alone, so nothing holds the change back: the last two get no account
    assert OrderRepository(rt.store).digest("wiki", "20261102T0900") == {"create_account": 2}
