"""The hardening suite's callers (fixtures only; helpers live in calls.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def api_keys() -> dict[str, list[str]]:
    return {
        "admin-key": ["Admin"],
        "hr-key": ["Persons.Write", "Persons.Read"],
        "reader-key": ["Persons.Read"],
        "operator-key": ["Provisioning.Operate"],
        "groups-key": ["Groups.Manage", "Persons.Read"],
    }
