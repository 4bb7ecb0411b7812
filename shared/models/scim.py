"""The SCIM doors' own models (docs/scim.md): a source's attribute mapping, the outcome of
one inbound operation and its provisioning-log entry (fields named as Entra's
`provisioningObjectSummary`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from shared.models.base import Model
from shared.models.person import AffiliationType, Text

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ROSTER_EXTENSION = "urn:roster:scim:schemas:extension:hr:1.0:User"

ScimPath = Annotated[str, StringConstraints(min_length=1, max_length=300, pattern=r"^[A-Za-z0-9:._$-]+$")]
AttributeName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]

Outcome = Literal["created", "updated", "unchanged", "stale", "held", "disabled", "failed"]


def _enterprise(name: str) -> str:
    return f"{ENTERPRISE}:{name}"


class ScimMapping(Model):
    """How one source's SCIM records become a `PersonUpdate` (docs/scim.md, "The mapping").

    Paths are SCIM attribute paths: `title`, `name.givenName`, or a schema URN followed by
    `:attribute`, e.g. `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`.
    The first path of `organization` with a value wins.
    """

    affiliation_type: AffiliationType = AffiliationType.employee
    affiliation_key: Annotated[str, StringConstraints(min_length=1, max_length=200)] = "scim"
    organization: list[ScimPath] = Field(
        default_factory=lambda: [_enterprise("department"), _enterprise("organization")], max_length=10
    )
    default_organization: Text = "unassigned"
    title: ScimPath | None = "title"
    start: ScimPath | None = f"{ROSTER_EXTENSION}:hireDate"
    end: ScimPath | None = f"{ROSTER_EXTENSION}:leaveDate"
    as_of: ScimPath | None = None
    affiliation_attributes: dict[AttributeName, ScimPath] = Field(
        default_factory=lambda: {
            "department": _enterprise("department"),
            "organization": _enterprise("organization"),
            "division": _enterprise("division"),
            "costCenter": _enterprise("costCenter"),
            "employeeNumber": _enterprise("employeeNumber"),
            "userType": "userType",
        },
        max_length=50,
    )
    person_attributes: dict[AttributeName, ScimPath] = Field(
        default_factory=lambda: {"manager": _enterprise("manager.value"), "userName": "userName"}, max_length=50
    )
    keep_unknown: bool = True

    @field_validator("organization")
    @classmethod
    def _some_organization(cls, paths: list[str]) -> list[str]:
        if len(set(paths)) != len(paths):
            raise ValueError("organization paths must be distinct")
        return paths


class OperationOutcome(Model):
    """What one operation of an inbound bulk upload did."""

    bulk_id: str | None
    outcome: Outcome
    person_id: str | None = None
    external_id: str | None = None
    reason: str | None = None
    field: str | None = None
    status: int | None = None
    changes: list[str] = Field(default_factory=list)


class ModifiedProperty(Model):
    display_name: str
    old_value: str | None = None
    new_value: str | None = None


class ProvisioningLogEntry(Model):
    """One operation as Entra's provisioning logs describe it (`provisioningObjectSummary`),
    readable at once. `action`: create | update | disable | other; `status`: success |
    failure | skipped."""

    id: str
    activity_date_time: datetime
    job_id: str
    change_id: str
    cycle_id: str
    action: Literal["create", "update", "disable", "other"]
    status: Literal["success", "failure", "skipped"]
    outcome: Outcome
    reason: str | None = None
    field: str | None = None
    modified_properties: list[ModifiedProperty] = Field(default_factory=list)
    source_identity: dict[str, str | None]
    target_identity: dict[str, str | None]
    service_principal: dict[str, str]
    initiated_by: str
