"""What the directory connectors (entra, ldap) share: settings read as a model, one table
from order action to account step, and faults turned into outcomes without waiting —
a Transient fault becomes `later` (the order is delivered again), a Refused one Errored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from shared.connectors.base import Outcome, Refused, Transient, errored, later
from shared.models.provisioning import Action, Order, Target

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


def read_settings(model: type[M], target: Target) -> M:
    """The target's settings as `model`; Refused naming the first wrong one (`settings.url: …`)."""
    try:
        return model.model_validate(target.settings)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise Refused(f"settings.{where}: {first['msg'].removeprefix('Value error, ')}") from None


def deferring(kind: str, order: Order, work: Callable[[], Outcome]) -> Outcome:
    """`work()`, with a Transient fault as `later` (the order comes back) and a Refused one
    as Errored; both logged with the order id and the note only."""
    try:
        return work()
    except Transient as transient:
        log.info("%s order %s put off: %s", kind, order.id, transient.note)
        return later(transient.note, order.attempts + 1, transient.retry_after)
    except Refused as refused:
        log.warning("%s order %s errored: %s", kind, order.id, refused.note)
        return errored(refused.note)


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
