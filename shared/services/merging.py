"""Merge two persons found to be one, and split a wrong merge back (docs/matching.md).

A merge moves the other person's identifiers and each of its sources' affiliations,
emails and missing facts to the survivor, retires the other (`merged_into`, no
identifiers, no affiliations) and runs the chain once for each: the survivor keeps or
gets one account per target, the retired person's open orders are superseded and its
remaining accounts removed. The retired person's document as it was is kept in the merge
record, so a split restores it and takes back exactly what the merge moved. Refused:
merging a person with itself (422), with a retired person, with a suspended person (409:
a merge must never carry access around a suspension — lift it or suspend both first),
or two persons holding identifiers of one source (409: that source says they differ).
"""

from __future__ import annotations

from shared.errors import Conflict, FieldError, InvalidInput, PersonNotFound
from shared.models.matching import MergeRecord
from shared.models.person import Person
from shared.runtime import Runtime
from shared.services.chain import after_group_change
from shared.services.membership import evaluate_person
from shared.services.provisioning import suspended_by
from shared.services.registration import file_for_matching
from shared.services.search import person_tokens
from shared.store.audit import audit_entity
from shared.store.contention import retrying
from shared.store.pending import PendingRepository
from shared.store.persons import PersonRepository
from shared.store.port import Entity

BUSY = "the persons are being changed by others; retry"


def merge(rt: Runtime, survivor_id: str, other_id: str, actor: str, reason: str) -> Person:
    """Merge `other_id` into `survivor_id`; returns the survivor."""
    if survivor_id == other_id:
        raise InvalidInput("a person cannot be merged with itself", [FieldError("other", "give another person")])
    repo = PersonRepository(rt.store)
    retired = repo.get(other_id)
    if retired is not None and retired.person.merged_into == survivor_id:  # a retried merge: finish it
        _run_chain(rt, [survivor_id, other_id], f"merge of {other_id} into {survivor_id}", actor)
        return repo.get(survivor_id).person
    survivor, other = _live(repo, survivor_id, "id"), _live(repo, other_id, "other")
    _refuse_suspended(rt, survivor_id, other_id)
    own = [i for i in survivor.identifiers if i not in other.identifiers]  # a retry may have moved some
    shared = {i.source for i in own} & {i.source for i in other.identifiers}
    if shared:
        raise Conflict(f"both persons hold identifiers of {', '.join(sorted(shared))}: that source says they differ")
    pending = PendingRepository(rt.store)
    pending.save_merge(MergeRecord(id=other_id, survivor=survivor_id, absorbed=other.model_dump(mode="json"),
                                   survivor_emails=[e.address for e in survivor.emails], at=rt.clock.now(), by=actor, reason=reason))
    for identifier in other.identifiers:
        repo.identifiers.upsert(Entity(identifier.source, identifier.source_id, {"person_id": survivor_id}))
    merged = retrying(lambda: _absorb(rt, repo, survivor_id, other, actor, reason), BUSY)
    retrying(lambda: _retire(rt, repo, other_id, survivor_id, actor, reason), BUSY)
    _run_chain(rt, [survivor_id, other_id], f"merge of {other_id} into {survivor_id}", actor)
    return merged


def split(rt: Runtime, survivor_id: str, actor: str, reason: str) -> tuple[Person, Person]:
    """Undo the latest merge into `survivor_id`: (survivor, restored person)."""
    repo, pending = PersonRepository(rt.store), PendingRepository(rt.store)
    if repo.get(survivor_id) is None:
        raise PersonNotFound(f"no person with id {survivor_id!r}")
    records = sorted((r for r in pending.merges_of(survivor_id) if r[0].state == "merged"), key=lambda r: r[0].at)
    if not records:
        raise Conflict(f"{survivor_id} was never merged with anyone: nothing to split")
    record, etag = records[-1]
    absorbed = Person.model_validate(record.absorbed)
    for identifier in absorbed.identifiers:
        repo.identifiers.upsert(Entity(identifier.source, identifier.source_id, {"person_id": absorbed.id}))
    kept = set(record.survivor_emails)
    survivor = retrying(lambda: _give_back(rt, repo, survivor_id, absorbed, kept, actor, reason), BUSY)
    restored = retrying(lambda: _restore(rt, repo, absorbed, actor, reason), BUSY)
    pending.save_merge(record.model_copy(update={"state": "split"}), etag)
    _run_chain(rt, [survivor_id, absorbed.id], f"split of {absorbed.id} from {survivor_id}", actor)
    return survivor, restored


def _live(repo: PersonRepository, person_id: str, field: str) -> Person:
    stored = repo.get(person_id)
    if stored is None:
        raise PersonNotFound(f"no person with id {person_id!r}")
    if stored.person.merged_into:
        raise Conflict(f"{person_id} was merged into {stored.person.merged_into}", field=field)
    return stored.person


def _refuse_suspended(rt: Runtime, *person_ids: str) -> None:
    for person_id in person_ids:
        group = suspended_by(rt, person_id)
        if group:
            raise Conflict(f"{person_id} is suspended (member of {group}): lift the suspension before merging",
                           person_id=person_id)


def _absorb(rt: Runtime, repo: PersonRepository, survivor_id: str, other: Person, actor: str, why: str) -> Person:
    stored = repo.get(survivor_id)
    current, now = stored.person, rt.clock.now()
    if any(i in current.identifiers for i in other.identifiers):
        return current  # a retried merge: already absorbed
    emails = current.emails + [e for e in other.emails if e.address not in {m.address for m in current.emails}]
    person = current.model_copy(update={
        "identifiers": current.identifiers + other.identifiers, "affiliations": current.affiliations + other.affiliations,
        "emails": emails, "birth_date": current.birth_date or other.birth_date,
        "address": current.address or other.address,
        "national_id_hash": current.national_id_hash or other.national_id_hash,
        "attributes": {**other.attributes, **current.attributes}, "sources": {**other.sources, **current.sources},
        "updated_at": now, "version": current.version + 1})
    details = {"other": other.id, "identifiers": [f"{i.source}:{i.source_id}" for i in other.identifiers]}
    _save(rt, repo, current, person, stored.etag, audit_entity(survivor_id, now, actor, "person.merged", why,
                                                                details, person.version))
    return person


def _retire(rt: Runtime, repo: PersonRepository, other_id: str, survivor_id: str, actor: str, why: str) -> Person:
    stored = repo.get(other_id)
    current, now = stored.person, rt.clock.now()
    if current.merged_into == survivor_id:
        return current
    person = current.model_copy(update={"identifiers": [], "affiliations": [], "merged_into": survivor_id,
                                        "updated_at": now, "version": current.version + 1})
    audit = audit_entity(other_id, now, actor, "person.merged_into", why, {"survivor": survivor_id}, person.version)
    _save(rt, repo, current, person, stored.etag, audit, filed=False)
    return person


def _give_back(rt: Runtime, repo: PersonRepository, survivor_id: str, absorbed: Person, kept: set[str], actor: str,
               why: str) -> Person:
    stored = repo.get(survivor_id)
    current, now = stored.person, rt.clock.now()
    sources = {i.source for i in absorbed.identifiers}
    if not any(i in current.identifiers for i in absorbed.identifiers):
        return current  # a retried split: already given back
    moved = {e.address for e in absorbed.emails} - kept
    person = current.model_copy(update={
        "identifiers": [i for i in current.identifiers if i not in absorbed.identifiers],
        "affiliations": [a for a in current.affiliations if a.source not in sources],
        "emails": [e for e in current.emails if e.address not in moved],
        "sources": {k: v for k, v in current.sources.items() if k not in sources},
        "updated_at": now, "version": current.version + 1})
    audit = audit_entity(survivor_id, now, actor, "person.split", why, {"restored": absorbed.id}, person.version)
    _save(rt, repo, current, person, stored.etag, audit)
    return person


def _restore(rt: Runtime, repo: PersonRepository, absorbed: Person, actor: str, why: str) -> Person:
    stored = repo.get(absorbed.id)
    current, now = stored.person, rt.clock.now()
    if current.merged_into is None:
        return current
    person = absorbed.model_copy(update={"updated_at": now, "version": current.version + 1, "merged_into": None})
    audit = audit_entity(absorbed.id, now, actor, "person.restored", why, {"split_from": current.merged_into},
                         person.version)
    repo.replace(person, stored.etag, audit)
    repo.index(person.id, person_tokens(person), set())
    file_for_matching(rt, None, person)
    return person


def _save(rt: Runtime, repo: PersonRepository, before: Person, after: Person, etag: str, audit: Entity,
          filed: bool = True) -> None:
    repo.replace(after, etag, audit)
    old, new = person_tokens(before), person_tokens(after) if filed else set()
    repo.index(after.id, new - old, old - new)
    file_for_matching(rt, before, after if filed else None)


def _run_chain(rt: Runtime, person_ids: list[str], cause: str, actor: str) -> None:
    for person_id in person_ids:
        after_group_change(rt, evaluate_person(rt, person_id, cause, actor, announce=False))
