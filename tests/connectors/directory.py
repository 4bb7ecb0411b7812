"""Builders for the directory connectors' tests (entra, ldap): a person with an
affiliation, an order, a target; plain functions, no fixtures."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from shared.connectors import Outcome, open_connector
from shared.models.person import Affiliation, AffiliationType, EmailAddress, Names, Person
from shared.models.provisioning import Action, Order, OrderState, Target

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def a_person(pid: str = "p-ada", given: str = "Ada", family: str = "Lovelace",
             email: str | None = "ada.lovelace@example.edu",
             kind: AffiliationType = AffiliationType.employee) -> Person:
    return Person(
        id=pid, names=Names(given=given, family=family),
        emails=[EmailAddress(address=email)] if email else [],
        affiliations=[Affiliation(key="job-1", type=kind, organization="FIN", start=date(2024, 1, 1), source="hr")],
        created_at=NOW, updated_at=NOW,
    )


def an_order(action: Action, entitlement: str = "account", person_id: str = "p-ada", attempts: int = 0) -> Order:
    return Order(id="o-1", person_id=person_id, target_id="dir", entitlement=entitlement, action=action,
                 state=OrderState.pending, reason="policy fin-employees", created_at=NOW, updated_at=NOW,
                 attempts=attempts)


def a_target(connector: str, settings: dict[str, Any]) -> Target:
    return Target(id="dir", name="Directory", connector=connector, settings=settings)


class Orders:
    """Orders for one person in one target, carried out by its connector; the account's id
    is kept between them as Roster keeps it on the assignment."""

    def __init__(self, target: Target, person: Person):
        self.target = target
        self.person = person
        self.external_id: str | None = None

    def do(self, action: Action, entitlement: str = "account", attempts: int = 0) -> Outcome:
        order = an_order(action, entitlement, person_id=self.person.id, attempts=attempts)
        outcome = open_connector(self.target).execute(self.target, order, self.person, self.external_id)
        self.external_id = outcome.external_id or self.external_id
        return outcome
