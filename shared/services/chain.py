"""The person chain run in-process (sync mode): registration → groups → provisioning."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from shared.bus import bus_id
from shared.models.person import PersonUpdate
from shared.runtime import Runtime
from shared.services.consequences import PolicyBook
from shared.services.membership import GroupChange, evaluate_person
from shared.services.provisioning import Digests, evaluate_provisioning
from shared.services.registration import Registration, register


@dataclass
class ChainResult:
    registration: Registration
    groups: GroupChange | None = None
    orders: list[dict] = field(default_factory=list)

    def as_response(self) -> dict:
        held = self.registration.pending
        return {
            "person": self.registration.person,
            "outcome": self.registration.outcome,
            **({"pending_match": {"id": held.id, "outcome": held.outcome}} if held else {}),
            "groups": self.groups.as_response() if self.groups else {"added": [], "removed": []},
            "orders": self.orders,
        }


def run_sync(rt: Runtime, update: PersonUpdate, actor: str, book: PolicyBook | None = None,
             digests: Digests | None = None) -> ChainResult:
    """One HTTP response carries the whole chain's outcome. `book`: the targets, policies
    and rules as already read by the caller (a bulk chunk reads them once for all its
    records), else read once here for both steps; `digests`: the desk hears of manual orders
    in its digest, not one email per person — counted into `digests`, which the caller flushes."""
    registration = register(rt, update, actor, announce=False)
    if registration.outcome in ("stale", "held"):
        return ChainResult(registration)
    book = book or PolicyBook.load(rt)
    change = evaluate_person(rt, registration.person.id, registration.cause, actor, announce=False,
                             person=registration.person, new=registration.outcome == "created", rules=book.rules)
    return ChainResult(registration, change, after_group_change(rt, change, book, digests)["orders"])


def register_now(rt: Runtime, update: PersonUpdate, actor: str) -> Registration:
    """Registration for a caller that needs the person at once (the SCIM doors); what
    follows runs as `ROSTER_CHAIN` says: in-process (sync) or through `person-changed`."""
    if rt.settings.chain == "sync":
        return run_sync(rt, update, actor).registration
    return register(rt, update, actor)


def after_group_change(rt: Runtime, change: GroupChange, book: PolicyBook | None = None,
                       digests: Digests | None = None) -> dict:
    """What follows a group change in-process: the provisioning orders it gives. Run even
    when nothing changed, so a retried call finishes what an interrupted one began.
    `digests`: manual orders are counted into the caller's digests (see `run_sync`)."""
    orders = evaluate_provisioning(rt, change.person_id, change.cause, windowed=digests is not None, book=book,
                                   change=change, digests=digests)
    return {"person_id": change.person_id, "groups": change.as_response(), "current": change.groups, "orders": orders}


def enqueue(rt: Runtime, update: PersonUpdate) -> str:
    """Hand the update to the `person-update` queue; the same update gets the same id."""
    digest = hashlib.sha256(update.model_dump_json().encode()).hexdigest()[:32]
    message_id = f"person-update:{digest}"
    rt.bus.publish(
        rt.settings.queue("person-update"),
        update.model_dump_json(),
        message_id=message_id,
        session_id=bus_id(update.session_id),
    )
    return message_id
