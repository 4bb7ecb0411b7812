"""A manual wiki target granted to Finance employees, on the embedded store."""

from __future__ import annotations

import pytest

from shared.models.group import GroupIn
from shared.models.person import PersonUpdate
from shared.models.provisioning import Policy, Target
from shared.services import groups
from shared.services.chain import run_sync
from shared.store.targets import TargetRepository
from tests.factories import hr_update
from tests.functions.conftest import functions  # noqa: F401  (the fixture, shared)

FIN_RULE = 'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -in ["FIN","HR"])'


def add_target(rt, target_id: str = "wiki", group_id: str = "fin-employees", entitlement: str = "account", **over) -> Target:
    target = Target.model_validate({"id": target_id, "name": target_id.title(), **over})
    repo = TargetRepository(rt.store)
    repo.save(target)
    repo.add_policy(target_id, Policy(group_id=group_id, entitlement=entitlement))
    return target


@pytest.fixture
def finance(rt):
    """fin-employees (dynamic) granting a wiki account; returns a function registering people."""
    groups.create_group(rt, GroupIn(id="fin-employees", name="Finance", kind="dynamic", rule=FIN_RULE), "admin")
    add_target(rt)

    def hire(source_id: str = "E1001", **over):
        return run_sync(rt, PersonUpdate.model_validate(hr_update(source_id=source_id, **over)), "hr")

    return hire


def end_job(on: str = "2026-11-05", as_of: str = "2026-11-02T08:30:00+00:00", source_id: str = "E1001") -> PersonUpdate:
    body = hr_update(source_id=source_id, as_of=as_of)
    body["affiliations"][0]["end"] = on
    return PersonUpdate.model_validate(body)
