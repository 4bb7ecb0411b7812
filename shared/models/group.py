"""Groups and memberships (docs/architecture.md §5, Group)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints, field_validator, model_validator

from shared.models.base import Line, Model, Moment
from shared.models.provisioning import Slug

SUSPEND_IMMEDIATE = "suspend-immediate"
Text = Line  # a group's name: one line


class Group(Model):
    id: Slug
    name: Text
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    kind: Literal["static", "dynamic"] = "static"
    rule: Annotated[str, StringConstraints(max_length=200_000)] | None = None
    policy: Literal["none", "suspend"] = "none"
    version: int = 0
    updated_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _rule_matches_kind(self) -> Group:
        if self.kind == "dynamic" and not self.rule:
            raise ValueError("a dynamic group needs a rule")
        if self.kind == "static" and self.rule:
            raise ValueError("a static group has no rule; use kind dynamic")
        return self


class Reevaluation(Model):
    """Progress of a group's latest re-evaluation (docs/architecture.md §5)."""

    job_id: str
    cause: str
    started_at: AwareDatetime
    batches_done: int
    batches_total: int
    persons_done: int
    finished_at: AwareDatetime | None = None


class GroupView(Group):
    """A group as `GET /groups/{id}` shows it."""

    reevaluation: Reevaluation | None = None


class GroupIn(Model):
    """A group as an administrator sends it (id from the path on PUT)."""

    id: Slug | None = None
    name: Text
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    kind: Literal["static", "dynamic"] = "static"
    rule: Annotated[str, StringConstraints(max_length=200_000)] | None = None
    policy: Literal["none", "suspend"] = "none"


class MemberIn(Model):
    """A static membership request."""

    person_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    start: Moment | None = None
    end: Moment | None = None
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)]

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end, info):
        start = info.data.get("start")
        if end is not None and start is not None:
            from shared.models.person import _ends_before_start

            if _ends_before_start(start, end):
                raise ValueError("end is before start")
        return end


class Membership(Model):
    """One person in one group, and why."""

    group_id: str
    person_id: str
    kind: Literal["static", "rule"]
    reason: str
    since: AwareDatetime
    added_by: str | None = None
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    clauses: list[str] = Field(default_factory=list)

    def active_at(self, instant: datetime) -> bool:
        return (self.start is None or self.start <= instant) and (self.end is None or instant < self.end)


class RuleIn(Model):
    rule: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]


class EvaluateIn(Model):
    person_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
