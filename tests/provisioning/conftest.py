"""Fixtures of the provisioning suite: a manual wiki target granted to Finance employees, on
the embedded store."""

from __future__ import annotations

import pytest

from shared.models.group import GroupIn
from shared.models.person import PersonUpdate
from shared.services import groups
from shared.services.chain import run_sync
from tests.factories import FIN_RULE, add_target, hr_update


@pytest.fixture
def finance(rt):
    """fin-employees (dynamic) granting a wiki account; returns a function registering people."""
    groups.create_group(rt, GroupIn(id="fin-employees", name="Finance", kind="dynamic", rule=FIN_RULE), "admin")
    add_target(rt)

    def hire(source_id: str = "E1001", **over):
        return run_sync(rt, PersonUpdate.model_validate(hr_update(source_id=source_id, **over)), "hr")

    return hire
