"""Console pages for duplicates (docs/matching.md): pending matches resolved side by side,
and merging two persons or splitting a merge back. Each route calls one service."""

from __future__ import annotations

from urllib.parse import quote

import azure.functions as func

from functions.console_web import BASE, Visit, page
from shared.console import matches as views
from shared.errors import RosterError
from shared.models.matching import Resolution
from shared.services import merging, pending_matches

bp = func.Blueprint()
READ = "Persons.Read"
WRITE = "Persons.Write"


@page(bp, "matches", name="console_matches", methods=("GET",), role=(WRITE, READ),
      summary="Pending matches: new source records held until staff say who they are")
def list_matches(visit: Visit) -> func.HttpResponse:
    return visit.html("matches.html", section="matches", items=pending_matches.open_matches(visit.rt))


@page(bp, "matches/{id}", name="console_match", methods=("GET",), role=(WRITE, READ), statuses=(200, 404),
      summary="A pending match: the held record beside its candidates, field by field")
def show_match(visit: Visit) -> func.HttpResponse:
    return visit.html("match.html", section="matches", can_write=visit.can(WRITE),
                      **views.match_page(visit.rt, visit.route["id"]))


@page(bp, "matches/{id}/resolve", name="console_match_resolve", methods=("POST",), role=WRITE, statuses=(303,),
      summary="Resolve a pending match: link the record to a candidate, or create a new person")
def resolve(visit: Visit) -> func.HttpResponse:
    here = f"{BASE}/matches/{quote(visit.route['id'])}"
    decision, person_id = visit.field("decision", max_length=10), visit.field("person_id", max_length=64) or None
    reason = visit.field("reason", max_length=1000).strip() or "resolved in the console"
    try:
        resolution = Resolution(decision=decision, person_id=person_id, reason=reason)
        done, _ = pending_matches.resolve(visit.rt, visit.route["id"], resolution, visit.actor)
    except (RosterError, ValueError) as error:
        return visit.redirect(here, f"Not resolved: {getattr(error, 'detail', None) or _first(error)}.", error=True)
    verb = "linked to" if done.state == "linked" else "registered as the new person"
    return visit.redirect(f"{BASE}/persons/{quote(done.person_id)}", f"{done.source}:{done.source_id} {verb} this person.")


@page(bp, "persons/{id}/merge", name="console_merge_preview", methods=("GET",), role=(WRITE, READ),
      query=("other",), statuses=(200, 404), summary="Merge another person into this one: both side by side first")
def merge_preview(visit: Visit) -> func.HttpResponse:
    other = (visit.query("other", max_length=64) or "").strip() or None
    return visit.html("merge.html", section="persons", can_write=visit.can(WRITE), other_id=other,
                      **views.merge_page(visit.rt, visit.route["id"], other))


@page(bp, "persons/{id}/merge", name="console_merge", methods=("POST",), role=WRITE, statuses=(303,),
      summary="Merge the other person into this one (identifiers and affiliations move; audited)")
def merge(visit: Visit) -> func.HttpResponse:
    person_id, other = visit.route["id"], visit.field("other", max_length=64).strip()
    reason = visit.field("reason", max_length=1000).strip()
    back = f"{BASE}/persons/{quote(person_id)}/merge?other={quote(other)}"
    if not reason:
        return visit.redirect(back, "Say why these are one person to merge them.", error=True)
    try:
        merging.merge(visit.rt, person_id, other, visit.actor, reason)
    except RosterError as error:
        return visit.redirect(back, f"Not merged: {error.detail}.", error=True)
    return visit.redirect(f"{BASE}/persons/{quote(person_id)}", f"Merged {other} into this person.")


@page(bp, "persons/{id}/split", name="console_split", methods=("POST",), role=WRITE, statuses=(303,),
      summary="Split the latest merge into this person back")
def split(visit: Visit) -> func.HttpResponse:
    person_id = visit.route["id"]
    reason = visit.field("reason", max_length=1000).strip() or "split in the console"
    try:
        _, restored = merging.split(visit.rt, person_id, visit.actor, reason)
    except RosterError as error:
        return visit.redirect(f"{BASE}/persons/{quote(person_id)}/merge", f"Not split: {error.detail}.", error=True)
    return visit.redirect(f"{BASE}/persons/{quote(person_id)}", f"Split: {restored.names.display} is a person again.")


def _first(error: Exception) -> str:
    errors = getattr(error, "errors", None)
    return str(errors()[0]["msg"]) if callable(errors) else str(error)
