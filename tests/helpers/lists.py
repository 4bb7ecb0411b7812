"""Long lists, written cheaply through the repositories and services: the paging suites'
data (tests/functions/test_paging.py, tests/console/test_console_worklist_paging.py)."""

from __future__ import annotations

from datetime import timedelta

from shared.models.group import Group, Membership
from shared.models.provisioning import Action, Order, OrderState, Target
from shared.services import targets
from shared.services.search import person_tokens
from shared.store.audit import audit_entity
from shared.store.deadletters import DeadLetterRepository
from shared.store.groups import GroupRepository, MembershipRepository
from shared.store.orders import OrderRepository
from shared.store.persons import PersonRepository
from tests.factories import NOW, a_person

MANY = 520


def many_orders(rt, count: int = MANY) -> list[str]:
    """`count` manual orders waiting on wiki's worklist, oldest first (20 persons)."""
    targets.create_target(rt, Target(id="wiki", name="Wiki", connector="manual"), "test")
    repo, ids = OrderRepository(rt.store), []
    for person in range(count // 20 + 1):
        person_id = f"{person:032x}"
        batch = []
        for n in range(min(20, count - len(ids))):
            at = NOW + timedelta(seconds=len(ids))
            order = Order.new(id=f"{person_id}.{n:012x}", person_id=person_id, target_id="wiki", entitlement=f"e{n}",
                              action=Action.grant, reason="policy", at=at, by="test")
            batch.append((order.model_copy(update={"state": OrderState.transmitted}), None, None))
            ids.append(order.id)
        if batch:
            repo.commit(person_id, batch, [], [])
    return ids


def many_persons(rt, count: int = MANY) -> list[str]:
    repo, ids = PersonRepository(rt.store), []
    for n in range(count):
        person = a_person(f"{n:032x}", email=None)
        person = person.model_copy(update={"names": person.names.model_copy(update={"given": f"Ada{n:04d}"})})
        repo.create(person, audit_entity(person.id, NOW, "test", "create", "test", {}))
        repo.index(person.id, person_tokens(person), set())
        ids.append(person.id)
    return ids


def many_groups(rt, count: int = MANY) -> list[str]:
    repo = GroupRepository(rt.store)
    for n in range(count):
        group = Group(id=f"g-{n:04d}", name=f"Group {n}")
        repo.write(group, None, audit_entity("groups", NOW, "test", "create", "test", {}, n), create=True)
    return [f"g-{n:04d}" for n in range(count)]


def many_members(rt, count: int = MANY) -> list[str]:
    GroupRepository(rt.store).write(Group(id="visitors", name="Visitors"), None,
                                    audit_entity("groups", NOW, "test", "create", "test", {}), create=True)
    repo, ids = MembershipRepository(rt.store), []
    for n in range(count):
        person_id = f"{n:032x}"
        repo.mirror(person_id, [Membership(group_id="visitors", person_id=person_id, kind="static",
                                           reason="test", since=NOW)], [])
        ids.append(person_id)
    return ids


def many_dead_letters(rt, count: int = MANY) -> list[str]:
    repo = DeadLetterRepository(rt.store)
    for n in range(count):
        repo.park("person-update", f"m-{n:04d}", b"{}", "malformed", "test", NOW)
    return [f"m-{n:04d}" for n in range(count)]


def bus_dead_letters(rt, queue: str, count: int, prefix: str = "dl") -> list[str]:
    """`count` messages of `queue` (the logical name) dead-lettered by the bus itself, as
    after too many deliveries: published, received and dead-lettered through the bus's API."""
    name, ids = rt.settings.queue(queue), []
    for n in range(count):
        message_id = f"{prefix}-{n:04d}"
        rt.bus.publish(name, '{"person_id": "p-1", "cause": "test"}', message_id)
        rt.bus.dead_letter(rt.bus.receive(name), "MaxDeliveryCountExceeded", "failed 10 times")
        ids.append(message_id)
    return ids
