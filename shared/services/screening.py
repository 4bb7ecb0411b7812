"""Screening at registration (docs/matching.md): before a new `(source, source_id)`
becomes a person, the matcher asks who it may already be. By the source's policy
(`ROSTER_MATCH_POLICY`: auto | review | never) an `exact` match is linked at once or
held for review; a `possible` one is held as a pending match. A held record is not
registered at all — no person, no groups, no access — until staff resolve it, so a human
can never end up with two sets of accounts; later updates of the same record replace the
held one (an older one is stale).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.errors import FieldError, InvalidInput
from shared.matching.profile import Profile
from shared.models.matching import PendingMatch
from shared.models.person import PersonUpdate
from shared.runtime import Runtime
from shared.services.matching import Match, find, update_profile
from shared.store.audit import audit_entity
from shared.store.pending import PendingRepository, match_id
from shared.store.port import EntityExists


@dataclass(frozen=True)
class Screening:
    """`link`: the person the record is linked to; `held`: the pending match; neither: new."""

    link: str | None = None
    held: PendingMatch | None = None
    stale: bool = False
    match: Match | None = None
    profile: Profile | None = None  # the record's matching profile, when the matcher was asked

    def details(self) -> dict:
        """What the audit record keeps of the match: the outcome and the scores."""
        if self.match is None:
            return {}
        return {"match": {"outcome": self.match.outcome, "candidates": _scores(self.match)}}


def screen(rt: Runtime, update: PersonUpdate, actor: str) -> Screening:
    """What to do with a record whose identifier nobody holds yet."""
    pending = PendingRepository(rt.store)
    stored = pending.get(match_id(update.source, update.source_id))
    if stored is not None and stored.match.state == "open":
        return _hold_again(rt, pending, stored, update)
    policy = rt.settings.match_policy(update.source)
    if policy == "never":
        return Screening()
    profile = update_profile(update)
    found = find(rt.store, profile, exclude_source=update.source)
    if found.outcome == "exact" and policy == "auto":
        return Screening(link=found.candidates[0].person_id, match=found)
    if found.outcome == "none":
        return Screening(profile=profile)
    return Screening(held=_hold(rt, pending, update, found, actor), match=found)


def protected(rt: Runtime, update: PersonUpdate) -> PersonUpdate:
    """The update with its national id as the keyed hash (422 naming it without a key)."""
    try:
        return update.protected(rt.settings.national_id_key)
    except ValueError as error:
        raise InvalidInput(str(error), [FieldError("national_id", "not accepted by this registry")]) from None


def foreseen(rt: Runtime, update: PersonUpdate) -> str | None:
    """What screening would do with a new record, nothing written (a dry run): `held`,
    `linked`, or None for a new person."""
    policy = rt.settings.match_policy(update.source)
    if policy == "never":
        return None
    found = find(rt.store, update_profile(protected(rt, update)), exclude_source=update.source)
    if found.outcome == "exact" and policy == "auto":
        return "linked"
    return None if found.outcome == "none" else "held"


def _hold(rt: Runtime, pending: PendingRepository, update: PersonUpdate, found: Match, actor: str) -> PendingMatch:
    now = rt.clock.now()
    held = PendingMatch(
        id=match_id(update.source, update.source_id), source=update.source, source_id=update.source_id,
        update=update.model_dump(mode="json", exclude={"national_id"}), outcome=found.outcome,
        candidates=[c.model_dump(mode="json") for c in found.candidates], created_at=now, updated_at=now)
    try:
        pending.insert(held)
    except EntityExists:  # another delivery of the same record held it first
        return pending.get(held.id).match
    pending.audit(audit_entity(held.id, now, actor, "match.held", f"{update.source} record may be an existing person",
                               {"outcome": found.outcome, "candidates": _scores(found)}, held.version))
    return held


def _hold_again(rt: Runtime, pending: PendingRepository, stored, update: PersonUpdate) -> Screening:
    """A newer update of a held record replaces the held one; an older one is stale."""
    held = stored.match
    if update.as_of < _as_of(held):
        return Screening(held=held, stale=True)
    if update.as_of > _as_of(held):
        held = held.model_copy(update={"update": update.model_dump(mode="json", exclude={"national_id"}),
                                       "updated_at": rt.clock.now(), "version": held.version + 1})
        pending.replace(held, stored.etag)
    return Screening(held=held)


def _as_of(held: PendingMatch) -> datetime:
    return PersonUpdate.model_validate(held.update).as_of


def _scores(found: Match) -> list[dict]:
    return [{"person_id": c.person_id, "score": c.score, "weight": c.weight} for c in found.candidates[:5]]
