"""Person registry routes and the `person-update` queue trigger."""

from __future__ import annotations

from typing import Annotated

import azure.functions as func
from pydantic import AwareDatetime, StringConstraints

from functions.http import PAGED, Call, endpoint, listed
from functions.queues import consume
from shared.errors import FieldError, InvalidInput
from shared.models.base import Model
from shared.models.person import Identifier, Person, PersonUpdate
from shared.models.role import Role
from shared.runtime import runtime
from shared.services import bulk, matching, search, stamps
from shared.services.chain import enqueue, run_sync
from shared.services.matching import Match, MatchQuery
from shared.services.registration import link_identifier, register
from shared.services.screening import protected

bp = func.Blueprint()
_REGISTERED = {"created": 201, "held": 202}


@endpoint(
    bp, "persons", name="persons_register", methods=("POST",), role=Role.persons_write,
    summary="Register or update a person from a source (sync: the whole chain's outcome)",
    body=PersonUpdate, query=("mode",), statuses=(200, 201, 202),
)
def register_person(call: Call):
    """sync: 201 created, 200 updated/unchanged/stale, 202 held as a pending match."""
    mode = call.query("mode") or call.rt.settings.chain
    if mode not in ("sync", "async"):
        raise InvalidInput("mode must be sync or async", [FieldError("mode", "sync or async")])
    stamps.check_as_of(call.rt, call.body.as_of)  # before it is queued, so the caller hears it
    update = protected(call.rt, call.body)  # the clear national id never reaches the queue
    if mode == "async":
        return 202, {"message_id": enqueue(call.rt, update)}
    result = run_sync(call.rt, update, call.actor)
    return _REGISTERED.get(result.registration.outcome, 200), result.as_response()


@endpoint(
    bp, "persons/bulk", name="persons_bulk", methods=("POST",), role=Role.persons_write,
    summary="Register or update up to 1,000 persons (a JSON array or NDJSON), each answered on its own;"
            " ?dry_run=true says what would change without writing",
    query=("dry_run",), statuses=(200, 400, 413),
)
def bulk_load(call: Call):
    records = bulk.parse_records(call.req.get_body() or b"", call.req.headers.get("content-type") or "")
    return bulk.load(call.rt, records, call.actor, dry_run=_flag(call, "dry_run"))


@endpoint(
    bp, "persons", name="persons_search", methods=("GET",), role=Role.persons_read,
    summary="Find persons by source identifier (source, source_id) or by name/email text (q)",
    query=("source", "source_id", "q", *PAGED), statuses=(200, 400, 422),
)
def search_persons(call: Call):
    source, source_id, q = call.query("source"), call.query("source_id"), call.query("q", max_length=200)
    page = call.page("persons", source=source, source_id=source_id, q=q)
    if q and not (source or source_id):
        return listed(search.text_page(call.rt, q, page))
    return listed((search.find_persons(call.rt, source=source, source_id=source_id, q=q), None))


@endpoint(
    bp, "persons/match", name="persons_match", methods=("POST",), role=(Role.persons_read, Role.persons_write),
    body=MatchQuery, response=Match,
    summary="Attribute matching: who might this source record already be? (exact | possible | none)",
)
def match_person(call: Call):
    return matching.match_person(call.rt, call.body)


class LinkIn(Identifier):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)] = "linked after a match"


@endpoint(
    bp, "persons/{id}/identifiers", name="persons_link", methods=("POST",), role=Role.persons_write, body=LinkIn,
    response=Person, statuses=(200, 404, 409),
    summary="Link a source's identifier to this person (after a match): its updates land here",
)
def link(call: Call):
    identifier = Identifier(source=call.body.source, source_id=call.body.source_id)
    return link_identifier(call.rt, call.route["id"], identifier, call.actor, call.body.reason)


@endpoint(
    bp, "persons/{id}", name="persons_get", methods=("GET",), role=Role.persons_read,
    summary="Read one person", response=Person, statuses=(200, 404),
)
def get_person(call: Call):
    return search.get_person(call.rt, call.route["id"])


class StampRepair(Model):
    """The stamp's new `as_of` (null: remove it, so the source's next update applies) and why."""

    as_of: AwareDatetime | None = None
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


@endpoint(
    bp, "persons/{id}/sources/{source}/repair", name="persons_source_repair", methods=("POST",), role="Admin",
    body=StampRepair, statuses=(200, 404),
    summary="Repair a source stamp poisoned by a future as_of (audited)",
)
def repair_stamp(call: Call):
    return stamps.repair(call.rt, call.route["id"], call.route["source"], call.body.as_of, call.actor,
                         call.body.reason)


@bp.function_name("person_update_queue")
@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%PersonUpdateQueue%", connection="ServiceBusConnection",
    is_sessions_enabled=True,
)
def person_update_queue(msg: func.ServiceBusMessage) -> None:
    """An HR update from the queue: registration, then `person-changed` downstream."""
    consume(msg, "person-update", PersonUpdate, lambda update: register(runtime(), update, f"source:{update.source}"))


def _flag(call: Call, name: str) -> bool:
    raw = (call.query(name) or "false").lower()
    if raw not in ("true", "false"):
        raise InvalidInput(f"{name} must be true or false", [FieldError(name, "true or false")])
    return raw == "true"

