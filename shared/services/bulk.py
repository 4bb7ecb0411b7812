"""Bulk load: many source updates in one call, each answered on its own.

`POST /api/persons/bulk` takes up to `MAX_RECORDS` `PersonUpdate`s (a JSON array or NDJSON).
Every record runs through the same chain as `POST /api/persons` (registration → groups →
provisioning), in order, `CHUNK` records in one store unit of work (on SQLite one
transaction) with the targets, policies and group rules read once per chunk; the chunk's
messages are published once it has committed, and the desk hears of its manual orders in
the worklist digest, counted once per chunk in its transaction (on Table Storage per
record). One bad record never fails the others: it is answered with the field at fault. A repeated load changes nothing (every
record answers `unchanged`), so an import interrupted half-way — even inside a chunk — is
simply started again.

With `ROSTER_BULK_WORKERS` above 1 on the embedded store, the chunks are computed in worker
processes and committed in input order (shared/services/bulk_workers.py): the same answers
and the same rows as chunk after chunk here.

With `dry_run` nothing is written: each record says what would happen — its outcome, the
person's lifecycle step (joiner, mover, leaver), the groups gained and lost, and the orders
per target that would follow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from shared.errors import (
    BodyTooLarge,
    InvalidInput,
    MalformedBody,
    RosterError,
    invalid,
    parse_json,
)
from shared.models.person import Person, PersonUpdate
from shared.runtime import Runtime
from shared.services import bulk_workers, consequences
from shared.services.chain import run_sync
from shared.services.provisioning import Digests
from shared.services.registration import apply_update, changed_fields
from shared.services.screening import foreseen
from shared.services.stamps import check_as_of
from shared.store.groups import MembershipRepository
from shared.store.persons import PersonRepository

MAX_RECORDS = 1000
MAX_BYTES = 4 * 1024 * 1024
CHUNK = 100  # records per unit of work: one transaction on SQLite, short enough not to starve other writers


@dataclass
class RecordResult:
    """The answer for one record of a bulk load."""

    index: int
    source_id: str | None
    outcome: str  # created | updated | unchanged | stale | held | failed
    person_id: str | None = None
    errors: list[dict] = field(default_factory=list)
    lifecycle: str | None = None  # joiner | mover | leaver | None (dry run)
    groups: dict[str, list[str]] | None = None  # {"gained": [...], "lost": [...]}
    orders: dict[str, dict[str, int]] | None = None  # target → action → count

    def as_response(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None and v != []}


def parse_records(body: bytes, content_type: str) -> list[Any]:
    """The raw records of a JSON array or NDJSON body; 413 over the limits, 400 if unreadable."""
    if len(body) > MAX_BYTES:
        raise BodyTooLarge(f"the body is {len(body)} bytes; the limit is {MAX_BYTES}")
    if "ndjson" in content_type or "jsonl" in content_type:
        records = [parse_json(line, f"line {n}") for n, line in enumerate(body.splitlines(), 1) if line.strip()]
    else:
        records = parse_json(body)
    if not isinstance(records, list):
        raise MalformedBody("the body must be a JSON array of person updates, or NDJSON")
    if len(records) > MAX_RECORDS:
        raise BodyTooLarge(f"{len(records)} records; at most {MAX_RECORDS} in one call")
    return records


def load(rt: Runtime, records: list[Any], actor: str, dry_run: bool = False) -> dict:
    """Apply (or preview) every record, chunk by chunk; the summary counts outcomes."""
    chunks = [list(enumerate(records[start:start + CHUNK], start)) for start in range(0, len(records), CHUNK)]
    results: list[RecordResult] = []
    if not dry_run and bulk_workers.parallel(rt, chunks):
        results = bulk_workers.applied(rt, chunks, actor, _applied)  # on the other cores, committed in order
    else:
        for chunk in chunks:
            results += _previewed(rt, chunk) if dry_run else _applied(rt, chunk, actor)
    return {
        "dry_run": dry_run,
        "summary": dict(Counter(r.outcome for r in results)),
        "items": [r.as_response() for r in results],
    }


def _applied(rt: Runtime, chunk: list[tuple[int, Any]], actor: str) -> list[RecordResult]:
    """One chunk through the chain, record after record, in one unit of work (on SQLite one
    transaction: each record's batches still commit or fail on their own inside it); its
    messages are published once it has committed (docs/architecture.md §10)."""
    with rt.store.unit_of_work():
        digests = Digests()  # the desk's digests counted once per chunk, not once per record
        # SQLite: counted just before the unit commits, in its transaction (with the orders, even
        # when the chunk fails half-way). Table Storage, where every batch commits on its own:
        # counted after each record, and each record reads the policies and rules of its moment.
        whole = rt.store.before_commit(lambda: digests.flush(rt))
        book = consequences.PolicyBook.load(rt)  # once per chunk, consistent within its transaction
        results = []
        try:
            for index, raw in chunk:
                results.append(_one(index, raw, lambda update, i=index, b=book: _apply(rt, i, update, actor, b, digests)))
                if not whole:
                    digests.flush(rt)
                    book = consequences.PolicyBook.load(rt)
        finally:
            if not whole:
                digests.flush(rt)  # the orders a failing record stored still reach the desk
        return results


def _previewed(rt: Runtime, chunk: list[tuple[int, Any]]) -> list[RecordResult]:
    """One chunk of a dry run: nothing written."""
    book = consequences.PolicyBook.load(rt)
    return [_one(index, raw, lambda update, i=index: preview(rt, i, update, book)) for index, raw in chunk]


def _one(index: int, raw: Any, step: Callable[[PersonUpdate], RecordResult]) -> RecordResult:
    """One record validated and handed to `step`; a bad record is answered with its field."""
    source_id = raw.get("source_id") if isinstance(raw, dict) else None
    try:
        if not isinstance(raw, dict):
            raise InvalidInput("a record must be a JSON object", [])
        return step(PersonUpdate.model_validate(raw))
    except ValidationError as error:
        return _failed(index, source_id, invalid(error))
    except RosterError as error:
        return _failed(index, source_id, error)


def _failed(index: int, source_id: Any, error: RosterError) -> RecordResult:
    errors = [{"field": e.field, "message": e.message} for e in error.errors] or [
        {"field": "body", "message": error.detail}]
    return RecordResult(index, source_id if isinstance(source_id, str) else None, "failed", errors=errors)


def _apply(rt: Runtime, index: int, update: PersonUpdate, actor: str,
           book: consequences.PolicyBook, digests: Digests) -> RecordResult:
    registration = run_sync(rt, update, actor, book, digests).registration
    person_id = registration.person.id if registration.person else None  # None: held as a pending match
    return RecordResult(index, update.source_id, registration.outcome, person_id)


def preview(rt: Runtime, index: int, update: PersonUpdate, book: consequences.PolicyBook) -> RecordResult:
    """What applying `update` would do, with nothing written."""
    check_as_of(rt, update.as_of)  # refused as the real load would refuse it
    persons = PersonRepository(rt.store)
    person_id = persons.owner_of(update.source, update.source_id, update.given_identifier)
    stored = persons.get(person_id) if person_id else None
    current = stored.person if stored else None
    stamp = current.sources.get(update.source) if current else None
    if stamp is not None and update.as_of < stamp.as_of:
        return RecordResult(index, update.source_id, "stale", person_id)
    if current is None and foreseen(rt, update) == "held":
        return RecordResult(index, update.source_id, "held", None)
    now = rt.clock.now()
    after = apply_update(current, update, person_id or "(new)", now)
    outcome = "created" if current is None else ("updated" if changed_fields(current, after) else "unchanged")
    before_groups = set(MembershipRepository(rt.store).state(person_id).groups) if person_id else set()
    after_groups = _groups_of(rt, after, person_id, book)
    return RecordResult(
        index, update.source_id, outcome, person_id,
        lifecycle=_lifecycle(rt, current, after),
        groups={"gained": sorted(after_groups - before_groups), "lost": sorted(before_groups - after_groups)},
        orders=_orders_that_follow(rt, person_id, after_groups, book),
    )


def _groups_of(rt: Runtime, person: Person, person_id: str | None, book: consequences.PolicyBook) -> set[str]:
    memberships = MembershipRepository(rt.store).of_person(person_id) if person_id else []
    statics = [m for m in memberships if m.kind == "static"]
    return set(book.rules.effective(person, statics, rt.clock.now(), rt.settings.tz))


def _lifecycle(rt: Runtime, before: Person | None, after: Person) -> str | None:
    now, tz = rt.clock.now(), rt.settings.tz
    was, now_active = bool(before and before.active_at(now, tz)), after.active_at(now, tz)
    if now_active and not was:
        return "joiner"
    if was and not now_active or _ends_added(before, after):
        return "leaver"
    if before is not None and before.affiliations != after.affiliations:
        return "mover"
    return None


def _ends_added(before: Person | None, after: Person) -> bool:
    """An affiliation that had no end (or a later one) now ends: a leaver to come."""
    if before is None:
        return False
    ends = {(a.source, a.key): a.end for a in before.affiliations}
    return any((a.source, a.key) in ends and a.end is not None and ends[(a.source, a.key)] != a.end
               for a in after.affiliations)


def _orders_that_follow(rt: Runtime, person_id: str | None, groups: set[str],
                        book: consequences.PolicyBook) -> dict[str, dict[str, int]]:
    """Per target id, the orders the new groups would cause against what is assigned now —
    the very computation provisioning and the rule preview use (shared/services/consequences)."""
    items = (consequences.for_person(rt, person_id, groups, book) if person_id
             else consequences.would_follow(book, groups, set(), suspended=False))
    counts: dict[str, Counter] = {}
    for item in items:
        counts.setdefault(item["target_id"], Counter())[item["action"]] += 1
    return {target: dict(c) for target, c in sorted(counts.items())}
