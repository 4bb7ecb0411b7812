"""The ticket mirror's settings: off by default, refused when they would send work items to
the wrong place or authenticate badly; secrets never taken from an unresolved reference."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from shared.config import Settings
from shared.tickets import TicketSettingsError, open_tracker
from shared.tickets.devops import DEVOPS_RESOURCE, EntraToken
from shared.tickets.settings import DevOpsSettings

BASE = {"ROSTER_TICKETS": "azure_devops", "ROSTER_DEVOPS_URL": "https://dev.azure.com/contoso",
        "ROSTER_DEVOPS_PROJECT": "Identity Desk"}


def test_the_mirror_is_off_unless_asked_for():
    assert open_tracker({}).enabled is False
    assert open_tracker({"ROSTER_TICKETS": "none"}).enabled is False
    tracker = open_tracker(BASE)
    assert tracker.enabled and tracker.settings.auth == "entra" and tracker.settings.work_item_type == "Issue"


@pytest.mark.parametrize(("change", "named"), [
    ({"ROSTER_TICKETS": "jira"}, "ROSTER_TICKETS"),
    ({"ROSTER_DEVOPS_URL": ""}, "ROSTER_DEVOPS_URL"),
    ({"ROSTER_DEVOPS_URL": "http://dev.azure.com/contoso"}, "https"),
    ({"ROSTER_DEVOPS_URL": "http://127.0.0.1:8080/org"}, "ROSTER_ALLOW_LOOPBACK"),
    ({"ROSTER_DEVOPS_URL": "http://10.0.0.5/org", "ROSTER_ALLOW_LOOPBACK": "true"}, "https"),
    ({"ROSTER_DEVOPS_PROJECT": ""}, "ROSTER_DEVOPS_PROJECT"),
    ({"ROSTER_DEVOPS_AUTH": "password"}, "ROSTER_DEVOPS_AUTH"),
    ({"ROSTER_DEVOPS_AUTH": "pat"}, "ROSTER_DEVOPS_PAT"),
    ({"ROSTER_DEVOPS_STATES": '{"Planning": "Doing"}'}, "Planning"),
    ({"ROSTER_DEVOPS_STATES": "[1]"}, "JSON object"),
    ({"ROSTER_DEVOPS_IDENTITIES": '{"a@example.edu": 5}'}, "identity ids"),
])
def test_settings_that_would_go_wrong_are_refused_by_name(change, named):
    with pytest.raises(TicketSettingsError, match=named):
        open_tracker({**BASE, **change})


def test_plain_http_to_loopback_only_with_the_development_setting():
    env = {**BASE, "ROSTER_DEVOPS_URL": "http://127.0.0.1:8080/org", "ROSTER_ALLOW_LOOPBACK": "true"}
    assert DevOpsSettings.from_env(env).url == "http://127.0.0.1:8080/org"


def test_the_state_map_is_configurable_and_read_back_through_allowed_moves():
    env = {**BASE, "ROSTER_DEVOPS_STATES": '{"InPlanning": "Planned", "Completed": "Closed"}'}
    settings = DevOpsSettings.from_env(env)
    assert settings.states["InPlanning"] == "Planned" and settings.task_states["Completed"] == "Closed"
    from shared.models.request import State

    assert settings.roster_state("Planned", State.new) == State.in_planning
    assert settings.roster_state("Done", State.in_progress) == State.done
    assert settings.roster_state("Done", State.new) is None  # New cannot jump to Done


def test_an_unresolved_key_vault_reference_is_no_secret():
    reference = "@Microsoft.KeyVault(VaultName=kv-x;SecretName=devops-hook-secret)"
    settings = DevOpsSettings.from_env({**BASE, "ROSTER_DEVOPS_HOOK_SECRET": reference})
    assert settings.hook_secret is None
    teams = Settings.from_env({"ROSTER_TEAMS_WEBHOOK": reference.replace("devops-hook-secret", "teams-webhook")})
    assert teams.teams_webhook is None


def test_entra_tokens_are_asked_for_azure_devops_and_reused_until_they_near_expiry():
    asked = []

    class Credential:
        def get_token(self, scope):
            asked.append(scope)
            return SimpleNamespace(token=f"t{len(asked)}", expires_on=time.time() + (3600 if len(asked) > 1 else 200))

    token = EntraToken(Credential())
    assert token.header() == "Bearer t1"  # expires in 200 s: within the 5-minute margin
    assert token.header() == "Bearer t2"
    assert token.header() == "Bearer t2"
    assert asked == [DEVOPS_RESOURCE] * 2 and DEVOPS_RESOURCE.startswith("499b84ac-1321-427f-aa17-267ca6975798")
