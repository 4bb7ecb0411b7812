"""Fixtures of the ticket-mirror suite: a local Azure DevOps, and a runtime mirroring to it."""

from __future__ import annotations

import httpx
import pytest

from shared.models.provisioning import Target
from shared.store.targets import TargetRepository
from shared.tickets.devops import AzureDevOps
from shared.tickets.settings import DevOpsSettings
from tests.tickets.devops_standin import PAT, PROJECT, serve

HOOK_SECRET = "hook-secret-for-tests"
IDENTITIES = {"holly@example.edu": {"id": "6f1c2e9a-0000-4000-8000-000000000001", "name": "Holly Desk"}}


@pytest.fixture
def devops():
    standin, server = serve()
    yield standin
    server.shutdown()
    server.server_close()
    assert standin.problems == [], standin.problems


@pytest.fixture
def mirrored(rt, devops):
    """The runtime with the Azure DevOps mirror on, and the desk's service."""
    settings = DevOpsSettings(url=f"{devops.url}/org", project=PROJECT, auth="pat", pat=PAT,
                              hook_secret=HOOK_SECRET, identities=IDENTITIES)
    rt.tracker = AzureDevOps(settings, httpx.Client(timeout=5))
    TargetRepository(rt.store).save(Target(id="wiki", name="Team wiki"))
    return rt
