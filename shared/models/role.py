"""The roles callers hold (docs/architecture.md §7): one list, used by every route and page
(`@endpoint`, `@page`) and declared as Entra app roles in infra/entra/app-roles.json.

`Admin` holds every role. A route names one role or a tuple of which any one will do; a
name that is not a Role fails when the route is declared, not when a caller is refused.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    persons_write = "Persons.Write"
    persons_read = "Persons.Read"
    groups_manage = "Groups.Manage"
    suspend_manage = "Suspend.Manage"
    provisioning_operate = "Provisioning.Operate"
    requests_submit = "Requests.Submit"
    requests_manage = "Requests.Manage"
    admin = "Admin"


Roles = Role | tuple[Role, ...] | None


def needed(role: Role | str | tuple[Role | str, ...] | None) -> Roles:
    """`role` as Role members, in the shape given; ValueError naming an unknown role."""
    if role is None:
        return None
    if isinstance(role, str):
        return _one(role)
    return tuple(_one(r) for r in role)


def any_of(role: Roles) -> tuple[Role, ...]:
    """The roles of which any one will do (empty: any authenticated caller)."""
    if role is None:
        return ()
    return (role,) if isinstance(role, Role) else role


def _one(name: Role | str) -> Role:
    try:
        return Role(name)
    except ValueError:
        raise ValueError(f"{name!r} is not a role; the roles are {', '.join(Role)}") from None
