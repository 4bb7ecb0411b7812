"""A Roster with webhook targets granted to Finance employees, and a drain that hands
`provisioning-order` messages to the real trigger function, as the Functions host would."""

from __future__ import annotations

from shared.models.group import GroupIn
from shared.models.person import PersonUpdate
from shared.models.provisioning import Order, Policy, Target
from shared.services import groups
from shared.services.chain import run_sync
from shared.store.orders import OrderRepository
from shared.store.targets import TargetRepository
from tests.factories import hr_update

FIN_RULE = 'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -eq "FIN")'
SECRET_ENV = "ROSTER_TARGET_SECRET_TEST_DELIVERY"


def finance_group(rt) -> None:
    groups.create_group(rt, GroupIn(id="fin-employees", name="Finance", kind="dynamic", rule=FIN_RULE), "admin")


def webhook_target(rt, target_id: str, url: str, **settings) -> Target:
    target = Target(id=target_id, name=target_id.title(), connector="webhook",
                    settings={"url": url, "secret_env": SECRET_ENV, **settings})
    repo = TargetRepository(rt.store)
    repo.save(target)
    repo.add_policy(target_id, Policy(group_id="fin-employees"))
    return target


def hire(rt, n: int) -> str:
    """Register Finance employee number `n`; returns the person id."""
    body = hr_update(source_id=f"E{n:04d}", emails=[{"address": f"person{n}@example.edu", "type": "work"}])
    return run_sync(rt, PersonUpdate.model_validate(body), "hr").registration.person.id


def deliver_due(rt, batch: int = 250) -> int:
    """Hand every due provisioning-order message to the batch trigger (one session's
    batch of up to `batch` at a time, as the host does), once each; returns how many."""
    from devhost.pump import to_message
    from functions.provisioning import provisioning_order_queue

    trigger = provisioning_order_queue._function.get_user_function()
    queue, count = rt.settings.queue("provisioning-order"), 0
    while deliveries := rt.bus.receive_batch(queue, batch):
        trigger([to_message(d) for d in deliveries])
        rt.bus.complete_batch(deliveries)
        count += len(deliveries)
    return count


def orders_of(rt, target_id: str, persons: list[str]) -> list[Order]:
    repo = OrderRepository(rt.store)
    return [o for p in persons for o in repo.of_person(p) if o.target_id == target_id]
