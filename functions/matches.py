"""Pending matches, merge and split routes (docs/matching.md): each reads its input and
calls one service."""

from __future__ import annotations

import azure.functions as func

from functions.http import Call, endpoint
from shared.models.matching import MergeIn, PendingMatch, Resolution, SplitIn
from shared.models.person import Person
from shared.services import merging, pending_matches

bp = func.Blueprint()
READ, WRITE = ("Persons.Read", "Persons.Write"), "Persons.Write"


@endpoint(bp, "matches", name="matches_list", methods=("GET",), role=READ,
          summary="Pending matches: new source records held until staff say who they are")
def list_matches(call: Call):
    return {"items": pending_matches.open_matches(call.rt), "next": None}


@endpoint(bp, "matches/{id}", name="matches_get", methods=("GET",), role=READ, response=PendingMatch,
          statuses=(200, 404), summary="One pending match: the held record and its candidates, field by field")
def get_match(call: Call):
    return pending_matches.get_match(call.rt, call.route["id"])


@endpoint(bp, "matches/{id}/resolve", name="matches_resolve", methods=("POST",), role=WRITE, body=Resolution,
          statuses=(200, 404, 409, 422),
          summary="Resolve a pending match: link the record to a person, or create a new person; the chain runs")
def resolve(call: Call):
    resolved, result = pending_matches.resolve(call.rt, call.route["id"], call.body, call.actor)
    return {"match": resolved, **result.as_response()}


@endpoint(bp, "persons/{id}/merge", name="persons_merge", methods=("POST",), role=WRITE, body=MergeIn,
          response=Person, statuses=(200, 404, 409, 422),
          summary="Merge another person into this one: identifiers and affiliations move, the other is retired")
def merge(call: Call):
    return merging.merge(call.rt, call.route["id"], call.body.other, call.actor, call.body.reason)


@endpoint(bp, "persons/{id}/split", name="persons_split", methods=("POST",), role=WRITE, body=SplitIn,
          statuses=(200, 404, 409), summary="Split the latest merge into this person back: the other is restored")
def split(call: Call):
    survivor, restored = merging.split(call.rt, call.route["id"], call.actor, call.body.reason)
    return {"survivor": survivor, "restored": restored}
