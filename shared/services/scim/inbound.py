"""Entra-shaped inbound provisioning (docs/scim.md): a `BulkRequest` of ≤ 50 `POST /Users`
operations from one HR source, validated as Entra validates it, each applied through the
source's mapping and the usual chain, answered with every operation's outcome at once and
written to a provisioning log that is readable immediately.

The whole request is refused (400, nothing written) when its shape is wrong; an operation
whose data Roster cannot accept fails on its own, with the reason and the field.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from shared.errors import (
    FieldError,
    MalformedBody,
    NotFound,
    RosterError,
    TooManyRequests,
    not_json_constant,
)
from shared.models.person import Person
from shared.models.scim import (
    CORE,
    ENTERPRISE,
    ModifiedProperty,
    OperationOutcome,
    ProvisioningLogEntry,
)
from shared.runtime import Runtime
from shared.services.chain import register_now
from shared.services.scim.mapping import mapping_for, to_update
from shared.store.persons import PersonRepository
from shared.store.scim import LogRepository, MappingRepository, RateCounter

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
SCIM_MEDIA_TYPE = "application/scim+json"
MAX_OPERATIONS = 50
ACTIONS = {"created": "create", "updated": "update", "disabled": "disable"}
STATUSES = {"created": "success", "updated": "success", "disabled": "success", "failed": "failure"}


@dataclass
class Upload:
    id: str
    source: str
    job: str
    outcomes: list[OperationOutcome] = field(default_factory=list)


def check_rate(rt: Runtime, source: str) -> None:
    """TooManyRequests (429 + Retry-After) above `ROSTER_BULKUPLOAD_RATE` calls per window."""
    calls, seconds = rt.settings.bulk_upload_rate
    stamp = rt.clock.now().timestamp()
    window = int(stamp // seconds)
    if RateCounter(rt.store).count(f"bulkupload:{source}", window) > calls:
        wait = max(1, math.ceil((window + 1) * seconds - stamp))
        raise TooManyRequests(f"more than {calls} uploads in {seconds} s for source {source!r}; retry later", wait)


def read_request(content_type: str | None, raw: bytes) -> list[dict[str, Any]]:
    """The operations of a valid request, or MalformedBody (400) naming the field."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media != SCIM_MEDIA_TYPE:
        raise MalformedBody(f"Content-Type must be {SCIM_MEDIA_TYPE}",
                            [FieldError("Content-Type", f"must be {SCIM_MEDIA_TYPE}")])
    try:
        body = json.loads(raw or b"", parse_constant=not_json_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise MalformedBody("the body is not valid JSON", [FieldError("body", "not JSON")]) from None
    if not isinstance(body, dict):
        raise MalformedBody("the body must be a JSON object", [FieldError("body", "must be an object")])
    if BULK_REQUEST not in (body.get("schemas") or []):
        raise _bad("schemas", f"must contain {BULK_REQUEST}")
    operations = body.get("Operations")
    if not isinstance(operations, list) or not operations:
        raise _bad("Operations", "must be a non-empty list")
    if len(operations) > MAX_OPERATIONS:
        raise _bad("Operations", f"at most {MAX_OPERATIONS} operations per request, got {len(operations)}")
    for index, operation in enumerate(operations):
        _check_operation(f"Operations[{index}]", operation)
    _check_unique(operations)
    return operations


def upload(rt: Runtime, source: str, job: str, operations: list[dict[str, Any]], actor: str) -> Upload:
    """Apply every operation in order; the log is written before the answer goes out."""
    done = Upload(uuid.uuid4().hex, source, job)
    mapping = mapping_for(MappingRepository(rt.store), source)
    repo = PersonRepository(rt.store)
    for operation in operations:
        done.outcomes.append(_apply(rt, repo, mapping, source, operation, actor))
    LogRepository(rt.store).add([_log_entry(rt, done, i, o, actor) for i, o in enumerate(done.outcomes)])
    return done


def response(done: Upload, location: str, persons_url: str) -> dict[str, Any]:
    """A SCIM BulkResponse plus Roster's outcome of every operation."""
    return {
        "schemas": [BULK_RESPONSE],
        "id": done.id,
        "provisioningLogs": location,
        "Operations": [_operation_response(o, persons_url) for o in done.outcomes],
    }


def _check_operation(at: str, operation: Any) -> None:
    if not isinstance(operation, dict):
        raise _bad(at, "must be an object")
    if str(operation.get("method", "")).upper() != "POST":
        raise _bad(f"{at}.method", "must be POST (Entra's bulkUpload creates or updates; Roster decides which)")
    if str(operation.get("path", "")).rstrip("/").lower() != "/users":
        raise _bad(f"{at}.path", "must be /Users")
    if not isinstance(operation.get("bulkId"), str) or not operation["bulkId"].strip():
        raise _bad(f"{at}.bulkId", "required")
    _check_data(f"{at}.data", operation.get("data"))


def _check_data(at: str, data: Any) -> None:
    if not isinstance(data, dict):
        raise _bad(at, "must be an object")
    schemas = data.get("schemas") if isinstance(data.get("schemas"), list) else []
    for urn in (CORE, ENTERPRISE):
        if urn not in schemas:
            raise _bad(f"{at}.schemas", f"must contain {urn}")
    external = data.get("externalId")
    if not isinstance(external, (str, int)) or isinstance(external, bool) or not str(external).strip():
        raise _bad(f"{at}.externalId", "required: the person's identifier in the source")
    if len(str(external)) > 256 or any(ord(c) < 32 or ord(c) == 127 for c in str(external)):
        raise _bad(f"{at}.externalId", "at most 256 characters, no control characters")


def _check_unique(operations: list[dict]) -> None:
    seen: dict[str, int] = {}
    for index, operation in enumerate(operations):
        key = str(operation["data"]["externalId"]).strip()
        if key in seen:
            raise _bad(f"Operations[{index}].data.externalId", f"repeats Operations[{seen[key]}]'s externalId")
        seen[key] = index


def _bad(field_name: str, message: str) -> MalformedBody:
    return MalformedBody(f"{field_name}: {message}", [FieldError(field_name, message)])


def _apply(rt: Runtime, repo: PersonRepository, mapping, source: str, operation: dict, actor: str) -> OperationOutcome:
    data = operation["data"]
    external_id = str(data["externalId"]).strip()
    bulk_id = operation["bulkId"]
    person_id = repo.owner_of(source, external_id)
    stored = repo.get(person_id) if person_id else None
    current: Person | None = stored.person if stored else None
    try:
        update = to_update(data, mapping, source, external_id, current, rt.clock.now())
        registration = register_now(rt, update, actor)
    except RosterError as error:
        first = error.errors[0] if error.errors else None
        return OperationOutcome(bulk_id=bulk_id, outcome="failed", person_id=person_id, external_id=external_id,
                                reason=error.detail, field=first.field if first else None,
                                status=error.status)
    outcome = registration.outcome
    if outcome in ("created", "updated") and data.get("active") is False and "affiliations" in registration.changes:
        outcome = "disabled"
    held = registration.person is None  # a pending match (docs/matching.md): nobody registered yet
    return OperationOutcome(bulk_id=bulk_id, outcome=outcome, person_id=None if held else registration.person.id,
                            external_id=external_id, changes=registration.changes)


def _log_entry(rt: Runtime, done: Upload, index: int, outcome: OperationOutcome, actor: str) -> ProvisioningLogEntry:
    return ProvisioningLogEntry(
        id=f"{done.id}-{index:04d}",
        activity_date_time=rt.clock.now(),
        job_id=done.job,
        change_id=done.id,
        cycle_id=done.id,
        action=ACTIONS.get(outcome.outcome, "other"),
        status=STATUSES.get(outcome.outcome, "skipped"),
        outcome=outcome.outcome,
        reason=outcome.reason,
        field=outcome.field,
        modified_properties=[ModifiedProperty(display_name=name) for name in outcome.changes],
        source_identity={"id": outcome.external_id, "identity_type": "User", "bulk_id": outcome.bulk_id},
        target_identity={"id": outcome.person_id, "identity_type": "Person"},
        service_principal={"id": done.source},
        initiated_by=actor,
    )


def _operation_response(outcome: OperationOutcome, persons_url: str) -> dict[str, Any]:
    item: dict[str, Any] = {"method": "POST", "bulkId": outcome.bulk_id, "outcome": outcome.outcome,
                            "externalId": outcome.external_id, "personId": outcome.person_id}
    if outcome.outcome == "failed":
        item["status"] = str(outcome.status or 400)
        item["response"] = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": item["status"],
            "scimType": "invalidValue" if (outcome.status or 400) in (400, 422) else None,
            "detail": outcome.reason, "field": outcome.field,
        }
        return item
    item["status"] = "201" if outcome.outcome == "created" else "200"
    item["location"] = f"{persons_url}/{outcome.person_id}"
    item["changes"] = outcome.changes
    return item


def provisioning_log(rt: Runtime, upload_id: str) -> list[dict]:
    """One bulk upload's provisioning log entries; NotFound (404) when there is none."""
    entries = LogRepository(rt.store).of_upload(upload_id)
    if not entries:
        raise NotFound(f"no provisioning log for upload {upload_id!r}")
    return entries
