"""The ticket mirror (port, adapters, settings): Roster's request desk kept in step with the
tracker the team already works in. `open_tracker` picks the adapter from the settings."""

from __future__ import annotations

from collections.abc import Mapping

from shared.tickets.port import NoTracker, Tracker
from shared.tickets.settings import DevOpsSettings, TicketSettingsError

ADAPTERS = ("none", "azure_devops")


def open_tracker(env: Mapping[str, str]) -> Tracker:
    kind = env.get("ROSTER_TICKETS") or "none"
    if kind == "none":
        return NoTracker()
    if kind == "azure_devops":
        from shared.tickets.devops import AzureDevOps

        return AzureDevOps(DevOpsSettings.from_env(env))
    raise TicketSettingsError(f"ROSTER_TICKETS must be one of {', '.join(ADAPTERS)}")
