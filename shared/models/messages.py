"""Bodies of the queue messages of docs/architecture.md §4 (PersonUpdate lives in person.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, EmailStr, Field, RootModel, StringConstraints

from shared.models.base import Model, one_line


class PersonRef(Model):
    """A state-based event: "person X changed, re-evaluate". `cause` explains why."""

    person_id: str
    cause: str


class ReevaluationRef(Model):
    """One batch of a group's re-evaluation: the persons of one directory bucket."""

    group_id: str
    job_id: str
    bucket: str
    cause: str


class OrderRef(Model):
    order_id: str


class Email(Model):
    to: list[EmailStr] = Field(min_length=1)
    cc: list[EmailStr] = Field(default_factory=list)
    subject: Annotated[str, StringConstraints(min_length=1, max_length=300), AfterValidator(one_line)]
    text: str
    html: str | None = None
    reply_to: EmailStr | None = None


class DigestRef(Model):
    """A worklist digest due: the manual orders a target received in one window, counted in
    the store, become one email when this (scheduled) message arrives."""

    digest: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]  # the target id
    window: Annotated[str, StringConstraints(pattern=r"^\d{8}T\d{4}$")]


class Notice(RootModel[Email | DigestRef]):
    """What the `notification` queue carries: an email, or a digest that is due."""
