"""Targets, policies, assignments and orders (ARCHITECTURE §5, Provisioning)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from shared.models.base import Model

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


class Connector(StrEnum):
    manual = "manual"
    webhook = "webhook"
    scim = "scim"


class Threshold(Model):
    """Mass-change guard: more removals than `max_percent` of the target's assignments
    (and at least `min_size` of them) in one evaluation wait for approval."""

    max_percent: float = Field(default=10.0, gt=0, le=100)
    min_size: int = Field(default=10, ge=1)


class Target(Model):
    id: Slug
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    connector: Connector = Connector.manual
    settings: dict[str, Any] = Field(default_factory=dict)
    on_remove: Literal["disable", "delete"] = "disable"
    approval: Literal["none", "always", "threshold"] = "none"
    threshold: Threshold = Field(default_factory=Threshold)

    @model_validator(mode="after")
    def _connector_settings(self) -> Target:
        if self.connector in (Connector.webhook, Connector.scim) and not self.settings.get("url"):
            raise ValueError(f"settings.url is required for a {self.connector.value} target")
        return self


class Policy(Model):
    """Members of `group_id` get `entitlement` in the target (`account` = the account)."""

    group_id: Slug
    entitlement: Annotated[str, StringConstraints(min_length=1, max_length=200)] = "account"
