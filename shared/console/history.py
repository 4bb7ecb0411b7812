"""A request's history in words: "Moved from New to In Planning by Holly: starts Monday".

Audit records keep codes (`request.state_changed`) and actor ids (`apikey:1a2b3c4d`); this
module turns one record into the sentence people read, naming actors by display name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Names = Callable[[str], str]


def state_words(state: str) -> str:
    """`InPlanning` → `In Planning`."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", state)


def describe(record: dict[str, Any], who: Names) -> str:
    """One audit record of a request as a sentence."""
    details, by = record.get("details") or {}, who(record["actor"])
    sentence = SENTENCES.get(record["action"])
    text = sentence(details, record, by) if sentence else f"{record['action']} by {by}: {record['why']}"
    note = details.get("note")
    return f"{text}: {note}" if note else text


def _state_changed(details: dict, record: dict, by: str) -> str:
    state = details.get("state") or {}
    text = f"Moved from {state_words(state.get('from') or '?')} to {state_words(state.get('to') or '?')} by {by}"
    if "owner" in details:
        text += f"; {_owner(details['owner'])}"
    return text


def _owner_changed(details: dict, record: dict, by: str) -> str:
    text = _owner(details.get("owner") or {})
    return f"{text[:1].upper()}{text[1:]} by {by}"


def _owner(change: dict) -> str:
    return f"owner set to {change['to']}" if change.get("to") else "owner cleared"


def _task(verb: str) -> Callable[[dict, dict, str], str]:
    def sentence(details: dict, record: dict, by: str) -> str:
        title = details.get("title") or (record["why"] if verb == "added" else None)
        orders = len(details.get("orders") or [])
        made = f", with {orders} order{'s' if orders != 1 else ''} on the worklist" if orders else ""
        return f"Task {'“' + title + '” ' if title else ''}{verb} by {by}{made}"

    return sentence


SENTENCES: dict[str, Callable[[dict, dict, str], str]] = {
    "request.submitted": lambda d, r, by: f"Received from the form through {by}",
    "request.state_changed": _state_changed,
    "request.owner_changed": _owner_changed,
    "request.commented": lambda d, r, by: f"{'Public comment' if d.get('public') else 'Comment'} by {by}",
    "request.task_created": _task("added"),
    "request.task_changed": _task("changed"),
    "request.task_completed": _task("completed"),
    "request.link_renewed": lambda d, r, by: f"Requester link renewed by {by}; the old link no longer opens",
}
