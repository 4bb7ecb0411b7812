"""Pending matches and merges (docs/matching.md): a new source record that may be an
existing person waits for staff; two persons found to be one are merged, and a wrong
merge is split back."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from shared.models.base import Model

Reason = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
PersonId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class PendingMatch(Model):
    """A source record held until staff say who it is: its update is kept (national id as
    the keyed hash), nothing is registered, so it grants no access meanwhile."""

    id: str
    source: str
    source_id: str
    update: dict[str, Any]
    outcome: Literal["exact", "possible"]
    candidates: list[dict[str, Any]]
    state: Literal["open", "linked", "created"] = "open"
    person_id: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    resolved_by: str | None = None
    reason: str | None = None
    version: int = 1


class Resolution(Model):
    """Staff's decision: `link` the record to `person_id`, or `create` a new person."""

    decision: Literal["link", "create"]
    person_id: PersonId | None = None
    reason: Reason = "resolved by staff"

    @model_validator(mode="after")
    def _person_for_link(self) -> Resolution:
        if self.decision == "link" and not self.person_id:
            raise ValueError("person_id is required to link")
        if self.decision == "create" and self.person_id:
            raise ValueError("person_id is only for link")
        return self


class MergeIn(Model):
    """Merge person `other` into this one (the survivor keeps its id)."""

    other: PersonId = Field(description="the person merged into this one; it is retired, not deleted")
    reason: Reason


class SplitIn(Model):
    reason: Reason


class MergeRecord(Model):
    """What a merge did, kept so a split can undo it: the absorbed person as it was."""

    id: str
    survivor: str
    absorbed: dict[str, Any]
    survivor_emails: list[str] = Field(default_factory=list, description="the survivor's addresses before")
    at: AwareDatetime
    by: str
    reason: str
    state: Literal["merged", "split"] = "merged"
