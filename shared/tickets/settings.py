"""The ticket mirror's settings (docs/request-desk.md, "Azure DevOps Boards").

`ROSTER_TICKETS` (`none` | `azure_devops`) chooses the mirror; the `ROSTER_DEVOPS_*`
settings describe the organization, the project, the work item type, how Roster's states
map to the process's states, and how Roster authenticates (Microsoft Entra by default; a
personal access token only as a fallback, from Key Vault in Azure).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shared.config import secret_setting
from shared.models.request import TRANSITIONS, State
from shared.outbound import OutboundPolicy, OutboundRefused, check_url, scheme_refusal

# What the default Agile/Basic processes offer; "In Planning" needs a custom state of an
# inherited process (docs), so the map is a setting.
DEFAULT_STATES = {
    State.new.value: "To Do",
    State.in_planning.value: "In Planning",
    State.in_progress.value: "Doing",
    State.done.value: "Done",
    State.closed.value: "Closed",
    State.rejected.value: "Removed",
}
TASK_STATES = {"Open": "To Do", "Completed": "Done"}


class TicketSettingsError(ValueError):
    """A ticket-mirror setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class DevOpsSettings:
    url: str  # the organization, e.g. https://dev.azure.com/contoso
    project: str
    work_item_type: str = "Issue"
    states: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_STATES))
    task_states: dict[str, str] = field(default_factory=lambda: dict(TASK_STATES))
    auth: str = "entra"  # entra | pat
    pat: str | None = None
    hook_secret: str | None = None
    identities: dict[str, dict[str, str]] = field(default_factory=dict)  # email → {id, name}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DevOpsSettings:
        allow_loopback = env.get("ROSTER_ALLOW_LOOPBACK", "").lower() == "true"
        url = _organization_url(env.get("ROSTER_DEVOPS_URL", ""), allow_loopback)
        try:  # the address, when a literal (the name is resolved and checked at every call)
            check_url(url, "ROSTER_DEVOPS_URL", OutboundPolicy.from_env(env), resolve=lambda host, port: [])
        except (OutboundRefused, ValueError) as refused:
            raise TicketSettingsError(getattr(refused, "detail", str(refused))) from None
        project = env.get("ROSTER_DEVOPS_PROJECT", "").strip()
        if not project:
            raise TicketSettingsError("ROSTER_DEVOPS_PROJECT is required with ROSTER_TICKETS=azure_devops")
        auth = env.get("ROSTER_DEVOPS_AUTH", "entra") or "entra"
        if auth not in ("entra", "pat"):
            raise TicketSettingsError("ROSTER_DEVOPS_AUTH must be entra or pat")
        pat = secret_setting(env, "ROSTER_DEVOPS_PAT")
        if auth == "pat" and not pat:
            raise TicketSettingsError("ROSTER_DEVOPS_PAT is required with ROSTER_DEVOPS_AUTH=pat")
        states = {**DEFAULT_STATES, **_json_map(env, "ROSTER_DEVOPS_STATES")}
        unknown = sorted(set(states) - set(DEFAULT_STATES) - set(TASK_STATES))
        if unknown:
            raise TicketSettingsError(f"ROSTER_DEVOPS_STATES names states Roster does not have: {', '.join(unknown)}")
        return cls(
            url=url, project=project, work_item_type=env.get("ROSTER_DEVOPS_WORK_ITEM_TYPE") or "Issue",
            states={k: v for k, v in states.items() if k in DEFAULT_STATES},
            task_states={**TASK_STATES, **{k: v for k, v in states.items() if k in TASK_STATES}},
            auth=auth, pat=pat, hook_secret=secret_setting(env, "ROSTER_DEVOPS_HOOK_SECRET"),
            identities=_identities(env),
        )

    def roster_state(self, devops_state: str, current: State) -> State | None:
        """The Roster state a DevOps state means for a request in `current`: `current` itself
        when it maps there already (an echo of Roster's own change), else the first state
        `current` may move to that maps there; None when no allowed move fits."""
        if self.states.get(current.value) == devops_state:
            return current
        return next((s for s in TRANSITIONS[current] if self.states.get(s.value) == devops_state), None)


def _organization_url(raw: str, allow_loopback: bool) -> str:
    parts = urlsplit(raw.strip())
    if not parts.scheme or not parts.hostname:
        raise TicketSettingsError("ROSTER_DEVOPS_URL must be the organization URL, e.g. https://dev.azure.com/contoso")
    why = scheme_refusal(raw.strip(), {"https"}, {"http"}, allow_loopback)
    if why:
        raise TicketSettingsError(f"ROSTER_DEVOPS_URL {why}")
    return raw.strip().rstrip("/")


def _json_map(env: Mapping[str, str], name: str) -> dict:
    raw = env.get(name) or "{}"
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise TicketSettingsError(f"{name} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise TicketSettingsError(f"{name} must be a JSON object")
    return value


def _identities(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """`{"ada@example.edu": {"id": "<identity id>", "name": "Ada Lovelace"}}` (or just the id)."""
    found = {}
    for email, value in _json_map(env, "ROSTER_DEVOPS_IDENTITIES").items():
        entry = {"id": value} if isinstance(value, str) else value
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise TicketSettingsError("ROSTER_DEVOPS_IDENTITIES must map addresses to identity ids")
        found[email.casefold()] = {"id": entry["id"], "name": str(entry.get("name") or email.split("@")[0])}
    return found
