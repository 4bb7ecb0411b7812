"""Append-only audit records, kept in the partition of what they describe.

Writing the record in the same batch as the change makes both happen or neither.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from shared.store.keys import instant_key
from shared.store.port import Entity, Table

PREFIX = "audit|"
_DETAILS = json.JSONEncoder(default=str)  # json.dumps(details, default=str), its encoder made once


def audit_entity(
    partition_key: str,
    at: datetime,
    actor: str,
    action: str,
    why: str,
    details: dict[str, Any],
    sequence: int = 0,
) -> Entity:
    """`sequence` orders records written at the same instant (e.g. the subject's version)."""
    row_key = f"{PREFIX}{instant_key(at)}|{sequence:012d}|{os.urandom(4).hex()}"
    return Entity(
        partition_key,
        row_key,
        {
            "at": at,
            "actor": actor,
            "action": action,
            "why": why,
            "details": _DETAILS.encode(details),
        },
    )


def audit_trail(table: Table, partition_key: str, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """The records of one subject, oldest first (`since`: only those at or after it, read
    from there on: the row keys begin with the instant)."""
    rows = (table.query(partition_key, prefix=PREFIX) if since is None else
            table.query(partition_key, start=f"{PREFIX}{instant_key(since)}", end=f"{PREFIX}~"))
    for entity in rows:
        props = entity.properties
        yield {
            "at": props["at"],
            "actor": props["actor"],
            "action": props["action"],
            "why": props["why"],
            "details": json.loads(props.get("details") or "{}"),
        }
