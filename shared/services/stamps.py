"""Source stamps: the `as_of` of the last update applied from each source (docs/security.md §4).

Updates from one source are ordered by their `as_of`: an older one is stale. So a stamp in
the future would make every later real update stale, and a leaver would keep their access.
`check_as_of` refuses an `as_of` more than `ROSTER_AS_OF_MAX_SKEW_SECONDS` (default 300)
ahead of the clock; `repair` lets an Admin reset a stamp that is already poisoned, audited.
"""

from __future__ import annotations

from datetime import datetime

from shared.errors import FieldError, InvalidInput, NotFound, PersonNotFound
from shared.runtime import Runtime
from shared.store.audit import audit_entity
from shared.store.contention import retrying
from shared.store.persons import PersonRepository


def check_as_of(rt: Runtime, as_of: datetime, field: str = "as_of") -> None:
    """InvalidInput naming `field` when `as_of` is further ahead of the clock than the skew."""
    skew = rt.settings.as_of_max_skew
    if as_of > rt.clock.now() + skew:
        message = f"is more than {int(skew.total_seconds())} seconds in the future"
        raise InvalidInput(f"{field} {message}", [FieldError(field, message)])


def repair(rt: Runtime, person_id: str, source: str, as_of: datetime | None, actor: str, why: str) -> dict:
    """Set the person's stamp for `source` to `as_of`, or remove it (None: the next update
    from the source applies whatever its date). Audited in the person's partition."""
    if as_of is not None:
        check_as_of(rt, as_of)
    repo = PersonRepository(rt.store)

    def once() -> dict:
        stored = repo.get(person_id)
        if stored is None:
            raise PersonNotFound(f"no person with id {person_id!r}")
        stamp = stored.person.sources.get(source)
        if stamp is None:
            raise NotFound(f"the person has no stamp from source {source!r}")
        now = rt.clock.now()
        sources = dict(stored.person.sources)
        if as_of is None:
            del sources[source]
        else:
            sources[source] = stamp.model_copy(update={"as_of": as_of})
        person = stored.person.model_copy(update={
            "sources": sources, "version": stored.person.version + 1, "updated_at": now})
        details = {"source": source, "before": stamp.as_of.isoformat(), "after": as_of.isoformat() if as_of else None}
        audit = audit_entity(person_id, now, actor, "person.source_stamp_repaired", why, details, person.version)
        repo.replace(person, stored.etag, audit)
        return {"person_id": person_id, "source": source, **details}

    return retrying(once, "the person is being changed by others; retry")
