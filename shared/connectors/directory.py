"""What the directory connectors (entra, ldap) share: settings read as a model, and one
table from order action to account step. Faults become outcomes through base.once: one
attempt per delivery, a Transient fault a transient outcome the provisioning service
schedules again (shared/services/redelivery.py), a Refused one Errored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from shared.connectors.base import Outcome, Refused
from shared.models.provisioning import Action, Order, Target

M = TypeVar("M", bound=BaseModel)


def read_settings(model: type[M], target: Target) -> M:
    """The target's settings as `model`; Refused naming the first wrong one (`settings.url: …`)."""
    try:
        return model.model_validate(target.settings)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise Refused(f"settings.{where}: {first['msg'].removeprefix('Value error, ')}") from None


class DirectoryAccount(Protocol):
    """One person's account in a directory (entra, ldap), for the length of one order."""

    def create(self) -> Outcome: ...
    def grant(self, entitlement: str) -> Outcome: ...
    def revoke(self, entitlement: str) -> Outcome: ...
    def set_enabled(self, enabled: bool, revoke_sessions: bool = False) -> Outcome: ...
    def delete(self) -> Outcome: ...


DIRECTORY_STEPS: dict[Action, Callable[[Any, str], Outcome]] = {
    Action.create_account: lambda account, _: account.create(),
    Action.grant: lambda account, entitlement: account.grant(entitlement),
    Action.revoke: lambda account, entitlement: account.revoke(entitlement),
    Action.suspend: lambda account, _: account.set_enabled(False, revoke_sessions=True),
    Action.disable_account: lambda account, _: account.set_enabled(False),
    Action.restore: lambda account, _: account.set_enabled(True),
    Action.delete_account: lambda account, _: account.delete(),
}  # update_account and reset_credentials go to staff: Roster holds no password


def directory_step(kind: str, order: Order, check: Callable[[str], object]) -> Callable[[Any], Outcome]:
    """What `order` does to a DirectoryAccount; Refused for an action the connector does not
    carry out, or an entitlement `check` refuses (grant, revoke) or that is not `account`."""
    found = DIRECTORY_STEPS.get(order.action)
    if found is None:
        raise Refused(f"the {kind} connector does not carry out {order.action.value}")
    if order.action in (Action.grant, Action.revoke):
        check(order.entitlement)
    elif order.entitlement != "account":
        raise Refused(f"{order.action.value} applies to the account, not {order.entitlement[:80]!r}")
    return lambda account: found(account, order.entitlement)


def short_id(uid: str) -> str:
    """An id fit for a note: `3f2a1…`."""
    return uid if len(uid) <= 8 else uid[:5] + "…"
