"""Pending matches resolved by staff (docs/matching.md): link the held record to a person,
or confirm it is a new person. Either way the held update is then registered and the
chain runs once; the match is marked resolved last, so an interrupted resolution is
finished by trying again, and a second resolution is refused (409).
"""

from __future__ import annotations

from shared.errors import Conflict, NotFound
from shared.models.matching import PendingMatch, Resolution
from shared.models.person import Identifier, PersonUpdate
from shared.runtime import Runtime
from shared.services.chain import ChainResult, run_sync
from shared.services.registration import link_identifier
from shared.store.audit import audit_entity
from shared.store.pending import PendingRepository, StoredMatch
from shared.store.persons import PersonRepository
from shared.store.port import ETagMismatch

LIST_LIMIT = 200


def open_matches(rt: Runtime, limit: int = LIST_LIMIT) -> list[PendingMatch]:
    return sorted(PendingRepository(rt.store).open(limit), key=lambda m: m.created_at)


def get_match(rt: Runtime, match_id: str) -> PendingMatch:
    return _stored(PendingRepository(rt.store), match_id).match


def resolve(rt: Runtime, match_id: str, resolution: Resolution, actor: str) -> tuple[PendingMatch, ChainResult]:
    """Link or create, register the held update, then mark the match resolved."""
    pending = PendingRepository(rt.store)
    stored = _stored(pending, match_id)
    held = stored.match
    if held.state != "open":
        raise Conflict(f"pending match {match_id} is already resolved ({held.state})", state=held.state)
    identifier = Identifier(source=held.source, source_id=held.source_id)
    if resolution.decision == "link":
        link_identifier(rt, resolution.person_id, identifier, actor, resolution.reason)
    else:
        PersonRepository(rt.store).claim(held.source, held.source_id, _new_id(held))
    result = run_sync(rt, PersonUpdate.model_validate(held.update), actor)
    person_id = result.registration.person.id
    now = rt.clock.now()
    done = held.model_copy(update={"state": "linked" if resolution.decision == "link" else "created",
                                   "person_id": person_id, "resolved_by": actor, "reason": resolution.reason,
                                   "updated_at": now, "version": held.version + 1})
    try:
        pending.replace(done, stored.etag)
    except ETagMismatch:
        raise Conflict(f"pending match {match_id} was resolved by someone else meanwhile") from None
    pending.audit(audit_entity(held.id, now, actor, f"match.{done.state}", resolution.reason,
                               {"person_id": person_id, "decision": resolution.decision}, done.version))
    return done, result


def _new_id(held: PendingMatch) -> str:
    """The new person's id, derived from the match so a retried `create` claims the same one."""
    return held.id.removeprefix("pm-").ljust(32, "0")


def _stored(pending: PendingRepository, match_id: str) -> StoredMatch:
    stored = pending.get(match_id)
    if stored is None:
        raise NotFound(f"no pending match {match_id!r}")
    return stored
