"""Small builders for what tests start from: the payloads HR systems send, persons, targets,
orders, and a target granted to a group."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.models.person import EmailAddress, Names, Person, PersonUpdate
from shared.models.provisioning import Action, Order, Policy, Target
from shared.store.targets import TargetRepository

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FIN_RULE = 'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -in ["FIN","HR"])'


def hr_update(source_id: str = "E1001", as_of: str = "2026-11-01T08:00:00+00:00", **over: Any) -> dict:
    """The JSON an HR system posts for Ada Lovelace, a Finance analyst until 2026-11-30."""
    body: dict[str, Any] = {
        "source": "hr",
        "source_id": source_id,
        "as_of": as_of,
        "names": {"given": "Ada", "family": "Lovelace"},
        "emails": [{"address": "ada.lovelace@example.edu", "type": "work"}],
        "affiliations": [
            {
                "key": "job-1",
                "type": "employee",
                "organization": "FIN",
                "title": "Analyst",
                "start": "2024-01-01",
                "end": "2026-11-30",
            }
        ],
    }
    body.update(over)
    return body


def end_job(on: str = "2026-11-05", as_of: str = "2026-11-02T08:30:00+00:00", source_id: str = "E1001") -> PersonUpdate:
    """HR's update ending Ada's job on `on`."""
    body = hr_update(source_id=source_id, as_of=as_of)
    body["affiliations"][0]["end"] = on
    return PersonUpdate.model_validate(body)


def a_person(pid: str = "p-ada", email: str | None = "ada.lovelace@example.edu") -> Person:
    """A stored person, as connectors read it."""
    return Person(
        id=pid,
        names=Names(given="Ada", family="Lovelace"),
        emails=[EmailAddress(address=email)] if email else [],
        created_at=NOW,
        updated_at=NOW,
    )


def an_order(action: Action, entitlement: str = "account", person_id: str = "p-ada",
             target_id: str = "app", order_id: str = "o-1") -> Order:  # fmt: skip
    """A pending order for Ada on target `app`."""
    return Order.new(id=order_id, person_id=person_id, target_id=target_id, entitlement=entitlement,
                     action=action, reason="policy fin-employees → account", at=NOW, by="roster")


def a_target(connector: str, **settings: Any) -> Target:
    """Target `app` on `connector` with `settings`."""
    return Target(id="app", name="App", connector=connector, settings=settings)


def add_target(rt, target_id: str = "wiki", group_id: str = "fin-employees", entitlement: str = "account", **over) -> Target:
    """Store a target granting `entitlement` to members of `group_id`."""
    target = Target.model_validate({"id": target_id, "name": target_id.title(), **over})
    repo = TargetRepository(rt.store)
    repo.save(target)
    repo.add_policy(target_id, Policy(group_id=group_id, entitlement=entitlement))
    return target

