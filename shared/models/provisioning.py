"""Targets, policies, assignments and orders (docs/architecture.md §5, Provisioning).

The order lifecycle lives here: `Order.new` creates an order Pending, `order.moved_to` moves
it as TRANSITIONS allows; each action's traits (grant, removal, what reconciliation must find,
the request desk's account action, the SCIM step) are declared once in ACTION_TRAITS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.errors import Conflict
from shared.models import target_settings
from shared.models.account_template import AccountTemplateSettings
from shared.models.base import Line, Model
from shared.models.request import AccountAction
from shared.outbound import scheme_refusal

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


MANUAL = "manual"  # a target whose orders staff carry out from the worklist
# The name of a target's connector: `manual`, or one of shared.connectors.registry's names
# (checked there, so that adding a connector is one registration).
ConnectorName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,31}$")]


class Threshold(Model):
    """Mass-change guard: once a target's removals within the hour exceed `max_percent` of
    its assignments (and `min_size`), further removals wait for approval. An hour rather than
    one person's evaluation, because a bad rule change arrives as many small evaluations."""

    max_percent: float = Field(default=10.0, gt=0, le=100)
    min_size: int = Field(default=10, ge=1)


class Target(Model):
    id: Slug
    name: Line
    connector: ConnectorName = MANUAL
    settings: dict[str, Any] = Field(default_factory=dict)
    on_remove: Literal["disable", "delete"] = "disable"
    approval: Literal["none", "always", "threshold"] = "none"
    threshold: Threshold = Field(default_factory=Threshold)
    account_template: AccountTemplateSettings | None = None

    @property
    def template(self) -> AccountTemplateSettings:
        """The target's account template: its own, else the login template of its directory
        connector's settings (`settings.account_template`), else `{given}.{family}`."""
        if self.account_template is not None:
            return self.account_template
        login = self.settings.get("account_template")
        return AccountTemplateSettings(login=login) if isinstance(login, str) and login else AccountTemplateSettings()

    @field_validator("settings")
    @classmethod
    def _directory_settings(cls, settings: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """An entra or ldap target's settings, checked field by field (`settings.domain`)."""
        model = {"entra": target_settings.EntraSettings, "ldap": target_settings.LdapSettings}.get(
            info.data.get("connector", MANUAL))
        if model is not None:
            model.model_validate(settings)
        return settings

    def entitlement_problem(self, entitlement: str) -> str | None:
        """Why the target's connector cannot hold `entitlement`, or None."""
        return target_settings.entitlement_problem(self.connector, entitlement)

    def normal_entitlement(self, entitlement: str) -> str:
        return target_settings.normal_entitlement(self.connector, entitlement)

    @model_validator(mode="after")
    def _connector_settings(self) -> Target:
        if self.connector in ("webhook", "scim"):
            url = self.settings.get("url")
            if not isinstance(url, str) or not url:
                raise ValueError(f"settings.url is required for a {self.connector} target")
            # the form only (a stored target stays readable whatever the environment says);
            # whether its addresses may be reached is checked when it is saved (check_url)
            why = scheme_refusal(url, {"https"}, {"http"}, allow_loopback=True)
            if why:
                raise ValueError(f"settings.url {why}")
        return self


class Policy(Model):
    """Members of `group_id` get `entitlement` in the target (`account` = the account)."""

    group_id: Slug
    entitlement: Annotated[str, StringConstraints(min_length=1, max_length=200)] = "account"


class TargetView(Target):
    """A target as `GET /targets/{id}` shows it: with its policies."""

    policies: list[Policy] = Field(default_factory=list)


class OrderState(StrEnum):
    awaiting_approval = "AwaitingApproval"
    pending = "Pending"
    transmitted = "Transmitted"
    executed = "Executed"
    verified = "Verified"
    errored = "Errored"
    inactive = "Inactive"


class Move(StrEnum):
    """What moves an order on; each move may start only from its states (TRANSITIONS)."""

    hold = "hold"  # the approval guard holds a new order
    approve = "approve"  # staff approve it
    dispatch = "dispatch"  # a manual order goes on the staff worklist
    carry_out = "carry_out"  # an automatic connector reports its outcome
    defer = "defer"  # an automatic order waits: a transient fault, or its target paused
    confirm = "confirm"  # staff carried it out by hand
    fail = "fail"  # staff (or Roster) report that it could not be carried out
    retry = "retry"  # staff send an errored order again
    verify = "verify"  # reconciliation found the target as ordered
    supersede = "supersede"  # a newer opposite order makes an open one pointless


_S = OrderState
# The order lifecycle, the one table every move is checked against: move → (from, to).
TRANSITIONS: dict[Move, tuple[frozenset[OrderState], frozenset[OrderState]]] = {
    Move.hold: (frozenset({_S.pending}), frozenset({_S.awaiting_approval})),
    Move.approve: (frozenset({_S.awaiting_approval}), frozenset({_S.pending})),
    Move.dispatch: (frozenset({_S.pending}), frozenset({_S.transmitted})),
    Move.carry_out: (frozenset({_S.pending}), frozenset({_S.executed, _S.verified, _S.errored})),
    Move.defer: (frozenset({_S.pending}), frozenset({_S.pending})),
    Move.confirm: (frozenset({_S.transmitted}), frozenset({_S.executed})),
    Move.fail: (frozenset({_S.pending, _S.transmitted}), frozenset({_S.errored})),
    Move.retry: (frozenset({_S.errored}), frozenset({_S.pending})),
    Move.verify: (frozenset({_S.executed}), frozenset({_S.verified})),
    Move.supersede: (
        frozenset({_S.awaiting_approval, _S.pending, _S.transmitted, _S.errored}), frozenset({_S.inactive}),
    ),
}
OPEN_STATES = TRANSITIONS[Move.supersede][0]  # not yet carried out: a newer order may cancel it


class InvalidOrderTransition(Conflict):
    """A move the order's state does not allow (409 with `current_state`)."""


class Presence(StrEnum):
    """What reconciliation must find in the target to confirm an executed order."""

    present = "present"  # the account or entitlement is there (and active)
    inactive_or_gone = "inactive_or_gone"  # the account is disabled, or not there at all
    gone = "gone"  # not there at all

    def confirms(self, present: bool | None) -> bool:
        """`present`: True active, False inactive, None absent from the target's data."""
        if self is Presence.present:
            return present is True
        if self is Presence.inactive_or_gone:
            return present is not True
        return present is None


class ScimStep(StrEnum):
    """What the SCIM connector does to the user for an action (shared/connectors/scim.py)."""

    create = "create"
    add_to_group = "add_to_group"
    remove_from_group = "remove_from_group"
    deactivate = "deactivate"
    activate = "activate"
    delete = "delete"
    update = "update"


class DirectoryStep(StrEnum):
    """What the directory connectors (entra, ldap) do to the account for an action
    (shared/connectors/directory.py)."""

    create = "create"
    add_to_group = "add_to_group"
    remove_from_group = "remove_from_group"
    lock_out = "lock_out"  # disabled, and its sessions revoked
    disable = "disable"
    enable = "enable"
    delete = "delete"


@dataclass(frozen=True)
class ActionTraits:
    """Everything Roster needs to know about an action, in one place (docs/development.md).

    `grants`: it gives access (an open one is superseded when access is no longer wanted);
    `removes`: it takes access away (counted by the mass-change guard; an open one is
    superseded when access is wanted again); `confirmed_by`: what reconciliation must find;
    `request`: the request desk's account action it carries out (None: not for requests);
    `on_remove`: for a request's `remove`, the target's on_remove setting it matches;
    `scim`, `directory`: the SCIM and the directory connectors' step (None: they cannot do
    it; the order errors and staff carry it out)."""

    grants: bool
    removes: bool
    confirmed_by: Presence
    request: AccountAction | None
    scim: ScimStep | None
    directory: DirectoryStep | None
    on_remove: str | None = None


class Action(StrEnum):
    create_account = "create_account"
    grant = "grant"
    revoke = "revoke"
    suspend = "suspend"
    restore = "restore"
    disable_account = "disable_account"
    delete_account = "delete_account"
    reset_credentials = "reset_credentials"
    update_account = "update_account"

    @property
    def traits(self) -> ActionTraits:
        return ACTION_TRAITS[self]

    @property
    def grants(self) -> bool:
        return ACTION_TRAITS[self].grants

    @property
    def removes(self) -> bool:
        return ACTION_TRAITS[self].removes

    @classmethod
    def for_request(cls, account_action: AccountAction, on_remove: str) -> Action:
        """The action that carries out a request's account action on a target."""
        return next(a for a, t in ACTION_TRAITS.items()
                    if t.request == account_action and t.on_remove in (None, on_remove))


_P, _Q, _D = Presence, ScimStep, DirectoryStep
ACTION_TRAITS: dict[Action, ActionTraits] = {
    Action.create_account: ActionTraits(True, False, _P.present, AccountAction.add, _Q.create, _D.create),
    Action.grant: ActionTraits(True, False, _P.present, None, _Q.add_to_group, _D.add_to_group),
    Action.revoke: ActionTraits(False, True, _P.gone, None, _Q.remove_from_group, _D.remove_from_group),
    Action.suspend: ActionTraits(False, False, _P.inactive_or_gone, None, _Q.deactivate, _D.lock_out),
    Action.restore: ActionTraits(False, False, _P.present, None, _Q.activate, _D.enable),
    Action.disable_account: ActionTraits(False, True, _P.inactive_or_gone, AccountAction.remove, _Q.deactivate,
                                         _D.disable, on_remove="disable"),
    Action.delete_account: ActionTraits(False, True, _P.gone, AccountAction.remove, _Q.delete, _D.delete,
                                        on_remove="delete"),
    # Roster holds no password; directory attributes are HR's: these go to staff
    Action.reset_credentials: ActionTraits(False, False, _P.present, AccountAction.reset, None, None),
    Action.update_account: ActionTraits(False, False, _P.present, AccountAction.change, _Q.update, None),
}
DONE = {OrderState.executed, OrderState.verified}
# What an assignment really is, by its status and where its latest order stands.
STATE_WORDS = {
    "active": "active", "pending": "being created", "failed": "not created (errored)",
    "removed": "removed", "removal_pending": "being removed", "removal_failed": "removal errored (still held)",
    "suspended": "suspended", "suspension_pending": "being suspended",
    "suspension_failed": "suspension errored (still active)",
}  # fmt: skip


class OrderEvent(Model):
    state: OrderState
    at: AwareDatetime
    by: str
    note: str = ""


class Order(Model):
    """One change in one target for one person, and why. It is created Pending (`new`) and
    moves only as TRANSITIONS allows (`moved_to`), each move recorded in its history."""

    id: str
    person_id: str
    target_id: str
    entitlement: str
    action: Action
    state: OrderState
    reason: str
    history: list[OrderEvent] = Field(default_factory=list)
    created_at: AwareDatetime
    updated_at: AwareDatetime
    attempts: int = 0  # dispatches so far: each one's message id is `order:<id>:<attempts>`
    failures: int = 0  # transient faults in a row since the last dispatch by staff or Roster
    next_attempt_at: AwareDatetime | None = None  # when a waiting order is tried again
    external_id: str | None = None
    error: str | None = None
    account: str | None = None  # the address a request named, when no registered person holds it

    @classmethod
    def new(
        cls, *, id: str, person_id: str, target_id: str, entitlement: str, action: Action, reason: str,
        at: datetime, by: str, account: str | None = None,
    ) -> Order:
        """A Pending order, its reason the first entry of its history."""
        return cls(
            id=id, person_id=person_id, target_id=target_id, entitlement=entitlement, action=action,
            state=OrderState.pending, reason=reason, created_at=at, updated_at=at, account=account,
            history=[OrderEvent(state=OrderState.pending, at=at, by=by, note=reason)],
        )

    def moved_to(self, state: OrderState, by: str, note: str = "", *, at: datetime, move: Move,
                 **changes: Any) -> Order:
        """This order after `move` to `state` at `at`, recorded in its history; other fields
        may change with it (`error`, `attempts`, `external_id`). InvalidOrderTransition when
        the move does not start from the current state or does not lead to `state`."""
        sources, destinations = TRANSITIONS[move]
        if self.state not in sources:
            wanted = " or ".join(sorted(s.value for s in sources))
            raise InvalidOrderTransition(
                f"the {self.action.value} order for {self.account or 'the person'} in {self.target_id} "
                f"is {self.state.value}, not {wanted}", current_state=self.state.value)
        if state not in destinations:
            raise ValueError(f"{move.value} leads to {sorted(destinations)}, not {state.value}")
        event = OrderEvent(state=state, at=at, by=by, note=note)
        return self.model_copy(update={"state": state, "updated_at": at, "history": [*self.history, event], **changes})


class Assignment(Model):
    """What Roster knows of one (person, target, entitlement)."""

    person_id: str
    target_id: str
    entitlement: str
    status: Literal["active", "suspended", "removed"]
    order_id: str
    since: AwareDatetime
    external_id: str | None = None
    note: str | None = None  # what staff said when they confirmed it

    def state(self, latest: Order | None) -> str:
        """The true state (a key of STATE_WORDS): `active` only once its order was carried out."""
        prefix = {"active": "", "removed": "removal_", "suspended": "suspension_"}[self.status]
        done = "active" if self.status == "active" else self.status
        if latest is None or latest.id != self.order_id:
            return done
        if latest.state in DONE:
            return done
        if latest.state == OrderState.errored:
            return f"{prefix}failed"
        if latest.state == OrderState.inactive:
            return "removed" if self.status == "removed" else done
        return f"{prefix}pending"
