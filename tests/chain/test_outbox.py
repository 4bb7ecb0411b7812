"""The transactional outbox and its relay (docs/architecture.md §10): messages stored with
the change, relayed at once, left for the timer when the bus fails, found through marks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.bus.limits import MAX_ID_CHARS
from shared.bus.port import BusError
from shared.models.group import GroupIn
from shared.models.messages import ReevaluationRef
from shared.models.person import PersonUpdate
from shared.services import groups
from shared.services.membership import evaluate_person
from shared.services.provisioning import evaluate_provisioning
from shared.services.registration import register
from shared.services.relay import (
    SETTLE_AFTER,
    committed_with,
    message_id,
    outbox_backlog,
    relay_stale,
)
from shared.store.groups import MembershipRepository
from shared.store.outbox import OutboxRepository, Outgoing
from shared.store.persons import PersonRepository
from shared.store.port import ETagMismatch
from tests.factories import hr_update


class RefusingBus:
    """A bus that is down: every publish fails as a transient BusError."""

    def __init__(self, inner):
        self.inner = inner

    def publish(self, *args, **kwargs):
        raise BusError("the namespace is unreachable")

    def publish_many(self, messages):
        raise BusError("the namespace is unreachable")

    def __getattr__(self, name):
        return getattr(self.inner, name)


def queued(rt, queue: str) -> list[str]:
    ids = []
    while (delivery := rt.bus.receive(rt.settings.queue(queue))) is not None:
        ids.append(delivery.message_id)
        rt.bus.complete(delivery)
    return ids


def test_a_registration_and_its_event_are_one_write_relayed_at_once_leaving_nothing_behind(rt):
    result = register(rt, PersonUpdate.model_validate(hr_update()), "hr")
    assert queued(rt, "person-changed") == [f"person-changed:{result.person.id}:v1"]
    assert OutboxRepository(rt.store).pending("persons", result.person.id) == []
    assert list(OutboxRepository(rt.store).marks_before(rt.clock.now() + timedelta(days=1), 100)) == []
    assert outbox_backlog(rt) == 0


def test_when_the_bus_is_down_the_change_is_kept_with_its_message_and_the_timer_sends_it(rt, clock):
    real = rt.bus
    rt.bus = RefusingBus(real)
    result = register(rt, PersonUpdate.model_validate(hr_update()), "hr")  # the write succeeds
    assert result.outcome == "created"
    assert outbox_backlog(rt) == 1
    rt.bus = real
    assert relay_stale(rt) == {"marks": 0, "published": 0}  # the writer's grace is not over yet
    clock.advance(timedelta(minutes=1))
    assert relay_stale(rt) == {"marks": 1, "published": 1}
    assert queued(rt, "person-changed") == [f"person-changed:{result.person.id}:v1"]
    assert outbox_backlog(rt) == 0
    clock.advance(SETTLE_AFTER)
    relay_stale(rt)  # an old mark over an empty partition goes
    assert list(OutboxRepository(rt.store).marks_before(clock.now(), 100)) == []


def test_an_unchanged_replay_publishes_its_event_again_with_the_same_id(rt, clock):
    update = PersonUpdate.model_validate(hr_update())
    first = register(rt, update, "hr")
    queued(rt, "person-changed")
    clock.advance(timedelta(minutes=11))  # past the duplicate detection window
    again = register(rt, update, "hr")
    assert again.outcome == "unchanged"
    assert queued(rt, "person-changed") == [f"person-changed:{first.person.id}:v1"]


def test_group_update_is_republished_until_provisioning_has_seen_the_memberships(rt, clock):
    rule = 'person.affiliations -any (affiliation.organization -eq "FIN")'
    groups.create_group(rt, GroupIn(id="fin", name="Finance", kind="dynamic", rule=rule), "admin")
    person_id = register(rt, PersonUpdate.model_validate(hr_update()), "hr", announce=False).person.id
    evaluate_person(rt, person_id, "first")  # the state's first version, announced
    [first] = queued(rt, "group-update")
    clock.advance(timedelta(minutes=11))
    evaluate_person(rt, person_id, "redelivered")  # nothing changed; provisioning never ran
    assert queued(rt, "group-update") == [first]
    evaluate_provisioning(rt, person_id, "group-update")
    clock.advance(timedelta(minutes=11))
    evaluate_person(rt, person_id, "redelivered again")
    assert queued(rt, "group-update") == []


def test_a_long_message_id_becomes_a_digest_within_the_bus_limit():
    long = message_id("person-changed", "x" * 200, "v1")
    assert len(long) <= MAX_ID_CHARS and long.startswith("person-changed:")
    assert long == message_id("person-changed", "x" * 200, "v1")
    assert long != message_id("person-changed", "x" * 200, "v2")
    assert message_id("order", "p.1", 0) == "order:p.1:0"


def test_a_write_refused_for_a_conflict_leaves_no_mark(rt):
    person = register(rt, PersonUpdate.model_validate(hr_update()), "hr").person
    repo = PersonRepository(rt.store)
    message = Outgoing("person-changed", "{}", "person-changed:x:v9", session_id=person.id)
    with pytest.raises(ETagMismatch):
        committed_with(rt, "persons", person.id, [message],
                       lambda outbox: repo.replace(person, "stale-etag", None, outbox))
    assert list(OutboxRepository(rt.store).marks_before(rt.clock.now() + timedelta(days=1), 100)) == []
    assert OutboxRepository(rt.store).pending("persons", person.id) == []


def test_a_rule_change_whose_fan_out_could_not_be_queued_still_re_evaluates_everyone(rt, clock):
    rule = 'person.affiliations -any (affiliation.organization -eq "FIN")'
    groups.create_group(rt, GroupIn(id="fin", name="Finance", kind="dynamic", rule=rule), "admin")
    person_id = register(rt, PersonUpdate.model_validate(hr_update()), "hr", announce=False).person.id
    evaluate_person(rt, person_id, "hired", announce=False)
    drain_reevaluations(rt)
    real, rt.bus = rt.bus, RefusingBus(rt.bus)
    changed = GroupIn(name="Finance", kind="dynamic", rule='person.affiliations -any (affiliation.organization -eq "LAW")')
    groups.update_group(rt, "fin", changed, "admin")  # saved; its re-evaluation waits in the outbox
    rt.bus = real
    assert drain_reevaluations(rt) == 0
    clock.advance(timedelta(minutes=1))
    assert relay_stale(rt)["published"] == 1
    assert drain_reevaluations(rt) == 1 + 256  # the fan-out, then every bucket
    assert groups.reevaluation_progress(rt, "fin")["batches_done"] == 256
    assert MembershipRepository(rt.store).state(person_id).groups == []


def drain_reevaluations(rt) -> int:
    count = 0
    while (delivery := rt.bus.receive(rt.settings.queue("group-reevaluation"))) is not None:
        ref = ReevaluationRef.model_validate_json(delivery.body)
        groups.reevaluate_bucket(rt, ref.group_id, ref.job_id, ref.bucket, ref.cause)
        rt.bus.complete(delivery)
        count += 1
    return count
