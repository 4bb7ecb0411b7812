"""The API keys the suites' callers hold, and the header that presents one."""

from __future__ import annotations

KEYS = {
    "admin-key": ["Admin"],
    "hr-key": ["Persons.Write", "Persons.Read"],
    "reader-key": ["Persons.Read"],
    "desk-key": ["Requests.Manage"],
}
# devhost end to end: the operators of groups, suspension and the worklist.
E2E_KEYS = {
    **KEYS,
    "groups-key": ["Groups.Manage", "Persons.Read"],
    "officer-key": ["Suspend.Manage"],
    "staff-key": ["Provisioning.Operate", "Persons.Read"],
}
# the request desk: the Power Automate flow's key.
DESK_KEYS = {**KEYS, "flow-key": ["Requests.Submit"]}
# the console: staff, group managers, the flow, and a key without roles.
CONSOLE_KEYS = {
    **DESK_KEYS,
    "desk-key": {"name": "Holly", "roles": ["Requests.Manage"]},  # the named format of ROSTER_API_KEYS
    "staff-key": ["Provisioning.Operate", "Persons.Read"],
    "groups-key": ["Groups.Manage", "Persons.Read"],
    "nobody-key": [],
}


def auth(key: str) -> dict[str, str]:
    """The Authorization header of a caller holding `key`."""
    return {"Authorization": f"Bearer {key}"}
