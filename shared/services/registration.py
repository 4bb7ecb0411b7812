"""Registration: a source's update becomes the master person record (docs/architecture.md §5).

Each source owns its affiliations; an update older than the last applied from its source
is stale; a replay changes nothing; concurrent writers retry on the ETag.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from shared.errors import Conflict, FieldError, InvalidInput, PersonNotFound
from shared.matching.profile import Profile
from shared.models.matching import PendingMatch
from shared.models.messages import PersonRef
from shared.models.person import (
    Affiliation,
    AffiliationIn,
    Identifier,
    Person,
    PersonUpdate,
    SourceStamp,
)
from shared.runtime import Runtime
from shared.services.matching import person_profile
from shared.services.relay import committed_with, message_id, publish
from shared.services.screening import protected, screen
from shared.services.search import listed_tokens, person_tokens, reindexed
from shared.services.stamps import check_as_of
from shared.store.audit import audit_entity
from shared.store.contention import retrying
from shared.store.matchindex import MatchIndex
from shared.store.outbox import Outgoing
from shared.store.persons import PersonRepository, StoredPerson
from shared.store.port import Entity

Outcome = Literal["created", "updated", "unchanged", "stale", "held"]
COMPARED = ("names", "birth_date", "emails", "address", "national_id_hash", "identifiers", "affiliations",
            "attributes")


@dataclass
class Registration:
    """What registering did; `held`: no person yet, the record waits as `pending`."""

    person: Person | None
    outcome: Outcome
    changes: list[str] = field(default_factory=list)
    cause: str = ""
    pending: PendingMatch | None = None


def register(rt: Runtime, update: PersonUpdate, actor: str, announce: bool = True) -> Registration:
    """Apply one source update; `person-changed` follows unless it was stale or held (or the
    caller runs the chain in-process: `announce=False`). A change records the event in its
    own batch (outbox); an unchanged replay publishes it again, so a redelivery finishes what
    an interrupted run began (the same id: the bus drops it when the first one got through)."""
    check_as_of(rt, update.as_of)
    repo = PersonRepository(rt.store)
    update = protected(rt, update)
    result = retrying(lambda: _register_once(rt, repo, update, actor, announce),
                      "the person is being changed by others; retry")
    if announce and result.outcome == "unchanged":
        publish(rt, _announcement(result.person, result.cause))
    return result


def link_identifier(rt: Runtime, person_id: str, identifier: Identifier, actor: str, why: str) -> Person:
    """Bind a source's identifier to an existing person (after a match): that source's
    updates then land on this person. Conflict if another person holds it already."""
    repo = PersonRepository(rt.store)
    target = repo.get(person_id)
    if target is None:
        raise PersonNotFound(f"no person with id {person_id!r}")
    if target.person.merged_into:
        raise Conflict(f"{person_id} was merged into {target.person.merged_into}: link to that person")
    owner = repo.claim(identifier.source, identifier.source_id, person_id)
    if owner != person_id:
        raise Conflict(f"{identifier.source}:{identifier.source_id} belongs to another person", person_id=owner)

    def attach() -> Person:
        stored = repo.get(person_id)
        if identifier in stored.person.identifiers:
            return stored.person
        now = rt.clock.now()
        person = stored.person.model_copy(update={
            "identifiers": [*stored.person.identifiers, identifier], "version": stored.person.version + 1,
            "updated_at": now})
        audit = audit_entity(person_id, now, actor, "person.identifier_linked", why,
                             {"source": identifier.source}, person.version)
        repo.replace(person, stored.etag, audit)
        return person

    return retrying(attach, "the person is being changed by others; retry")


def apply_update(current: Person | None, update: PersonUpdate, person_id: str, now) -> Person:
    """The person after `update`: what the source sent replaces what it sent before."""
    if current is None and update.names is None:
        raise InvalidInput(
            "names are required to register a new person",
            [FieldError("names", "required when the person is new")],
        )
    base = current.model_dump() if current else {"id": person_id, "created_at": now, "version": 0}
    identifier = Identifier(source=update.source, source_id=update.source_id)
    identifiers = list(current.identifiers) if current else []
    if identifier not in identifiers:
        identifiers.append(identifier)
    others = [a for a in (current.affiliations if current else []) if a.source != update.source]
    mine = [_affiliation(update.source, a) for a in update.affiliations]
    attributes = dict(current.attributes) if current else {}
    attributes.update(update.attributes)
    sources = dict(current.sources) if current else {}
    sources[update.source] = SourceStamp(as_of=update.as_of, applied_at=now)
    base.update(
        **_facts(update, base),
        identifiers=identifiers,
        affiliations=others + mine,
        attributes={k: v for k, v in attributes.items() if v is not None},
        sources=sources,
        updated_at=now,
        version=base["version"] + 1,
    )
    return Person.model_validate(base)


def _affiliation(source: str, sent: AffiliationIn) -> Affiliation:
    """A validated affiliation the source sent, as the person's: built without validating
    its fields again (the update was validated; the source is its validated name)."""
    return Affiliation.model_construct(source=source, **{**sent.__dict__, "attributes": dict(sent.attributes)})


def _facts(update: PersonUpdate, base: dict) -> dict:
    """Names, birth date, address, national id and emails: what the update carries replaces
    what the person had; what it leaves out stays."""
    kept = {name: getattr(update, name) or base.get(name) for name in ("names", "birth_date", "address",
                                                                        "national_id_hash")}
    emails = [e.model_dump() for e in update.emails] if update.emails is not None else base.get("emails", [])
    return {**kept, "emails": emails}


def changed_fields(before: Person, after: Person) -> list[str]:
    a, b = before.model_dump(include=set(COMPARED)), after.model_dump(include=set(COMPARED))
    return [name for name in COMPARED if a[name] != b[name]]


@dataclass
class _Draft:
    """A record nobody holds yet: the person the update alone makes (validated and packed
    once, with a new id) and, once screened, its matching profile."""

    person: Person
    entity: Entity | None = None
    profile: Profile | None = None


def _register_once(rt: Runtime, repo: PersonRepository, update: PersonUpdate, actor: str, announce: bool):
    now = rt.clock.now()
    cause = f"{update.source} update as of {update.as_of.isoformat()}"
    person_id, matched = repo.owner_of(update.source, update.source_id, update.given_identifier), {}
    if person_id is not None and update.given_identifier:
        repo.claim(update.source, update.source_id, person_id)  # a legacy spelling: now normalised too
    draft = None
    if person_id is None:  # nobody holds the identifier
        fresh = apply_update(None, update, uuid.uuid4().hex, now)
        draft = _Draft(fresh, repo.check_fits(fresh))  # refuse before anything is stored
        screening = screen(rt, update, actor)
        if screening.held is not None:
            return Registration(None, "stale" if screening.stale else "held", [], cause, screening.held)
        person_id = repo.claim(update.source, update.source_id, screening.link or fresh.id)
        matched = screening.details() if screening.link else {}
        draft.profile = screening.profile
    drafted = draft is not None and draft.person.id == person_id  # a new id: nobody's person yet
    stored = None if drafted else repo.get(person_id)
    if stored is None:
        if not drafted:  # a linked person gone, or a claim whose person a crash never wrote
            draft = _Draft(_first_version(draft.person if draft else None, update, person_id, now))
        return _created(rt, repo, draft, update.source, actor, cause, announce)
    return _changed(rt, repo, stored, update, (actor, cause, now), matched, announce)


def _changed(rt: Runtime, repo: PersonRepository, stored: StoredPerson, update: PersonUpdate, why: tuple[str, str, datetime],
             matched: dict, announce: bool) -> Registration:
    """The update applied to a registered person (`why`: actor, cause and time): stale,
    unchanged (its index rewritten, so a replay heals), or updated."""
    (actor, cause, now), person_id = why, stored.person.id
    current = stored.person
    stamp = current.sources.get(update.source)
    if stamp is not None and update.as_of < stamp.as_of:
        return Registration(current, "stale", [], cause)
    person = apply_update(current, update, person_id, now)
    changes = changed_fields(current, person)
    if not changes:
        if stamp is None or update.as_of > stamp.as_of:
            current.sources[update.source] = SourceStamp(as_of=update.as_of, applied_at=now)
            repo.replace(current, stored.etag, None)
        repo.index(person_id, listed_tokens(person_tokens(current)), set())
        file_for_matching(rt, current, current, heal=True)
        return Registration(current, "unchanged", [], cause)
    details = {"source": update.source, "changes": changes, **matched}
    action = "person.matched" if matched else "person.updated"
    audit = audit_entity(person_id, now, actor, action, cause, details, person.version)
    _write(rt, person, announce, cause, lambda outbox: repo.replace(person, stored.etag, audit, outbox))
    repo.index(person_id, *reindexed(person_tokens(current), person_tokens(person)))
    file_for_matching(rt, current, person)
    return Registration(person, "updated", changes, cause)


def _created(rt: Runtime, repo: PersonRepository, draft: _Draft, source: str, actor: str, cause: str,
             announce: bool) -> Registration:
    """Store the draft as a new person, index it and file it for matching."""
    person = draft.person
    audit = audit_entity(person.id, person.created_at, actor, "person.created", cause, {"source": source},
                         person.version)
    _write(rt, person, announce, cause, lambda outbox: repo.create(person, audit, outbox, draft.entity))
    repo.index(person.id, listed_tokens(person_tokens(person)), set())
    file_for_matching(rt, None, person, known=draft.profile)
    return Registration(person, "created", list(COMPARED), cause)


def _first_version(fresh: Person | None, update: PersonUpdate, person_id: str, now) -> Person:
    """A new person: the one the update made while screening (validated once), with its id."""
    return fresh.model_copy(update={"id": person_id}) if fresh else apply_update(None, update, person_id, now)


def file_for_matching(rt: Runtime, before: Person | None, after: Person | None, heal: bool = False,
                      known: Profile | None = None) -> None:
    """Keep the matcher's blocking entries and name counts in step with the person
    (`heal`: rewritten although nothing changed, so a replay finishes an interrupted write;
    `known`: the profile screening made of the update a new person `after` was made of alone —
    the same fields, so only its source is added)."""
    old = person_profile(before) if before else None
    if known is not None and after is not None:
        new = replace(known, sources=tuple(sorted({i.source for i in after.identifiers})))
    else:
        new = person_profile(after) if after else None
    MatchIndex(rt.store).file((after or before).id, old, new, rewrite=heal)


def _write(rt: Runtime, person: Person, announce: bool, cause: str, write) -> None:
    """The person's write, with `person-changed` in the same batch when it is announced."""
    messages = [_announcement(person, cause)] if announce else []
    committed_with(rt, "persons", person.id, messages, write)


def _announcement(person: Person, cause: str) -> Outgoing:
    """State-based event; the id repeats for the same version so a replay is deduplicated."""
    return Outgoing("person-changed", PersonRef(person_id=person.id, cause=cause).model_dump_json(),
                    message_id("person-changed", person.id, f"v{person.version}"), session_id=person.id)
