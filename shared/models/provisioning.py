"""Targets, policies, assignments and orders (docs/architecture.md §5, Provisioning)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AwareDatetime,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.models import target_settings
from shared.models.base import Line, Model

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
            parts = urlsplit(url)
            loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
            if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
                raise ValueError("settings.url must be https (plain http only on this machine's loopback)")
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


OPEN_STATES = {OrderState.awaiting_approval, OrderState.pending, OrderState.transmitted, OrderState.errored}


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


REMOVALS = {Action.revoke, Action.disable_account, Action.delete_account}


class OrderEvent(Model):
    state: OrderState
    at: AwareDatetime
    by: str
    note: str = ""


class Order(Model):
    """One change in one target for one person, and why."""

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


class Assignment(Model):
    """What Roster knows of one (person, target, entitlement)."""

    person_id: str
    target_id: str
    entitlement: str
    status: Literal["active", "suspended", "removed"]
    order_id: str
    since: AwareDatetime
    external_id: str | None = None
