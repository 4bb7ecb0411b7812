"""What Roster last read of a directory target by delta (entra): per target a cursor
(the Graph deltaLinks and the groups they track) and one row per user with its state and
memberships. Table `directorystate`: partition `cursor` (rows by target id) and
`users:<target id>` (rows by the directory's user id).

Crash safety: rows are written before the cursor, and applying a delta twice gives the same
rows (it carries states and set changes), so a crash between the two only means the next
run reads the same changes again.
"""

from __future__ import annotations

from typing import Any

from shared.store.documents import pack_json, unpack_json
from shared.store.port import Entity, TableStore

CURSORS = "cursor"


class DirectoryState:
    def __init__(self, store: TableStore):
        self.table = store.table("directorystate")

    def cursor(self, target_id: str) -> dict[str, Any]:
        """`{"users": deltaLink, "groups": deltaLink, "tracked": [group ids]}`, or {}."""
        entity = self.table.get(CURSORS, target_id)
        return {} if entity is None else unpack_json(entity.properties)

    def save_cursor(self, target_id: str, cursor: dict[str, Any]) -> None:
        self.table.upsert(Entity(CURSORS, target_id, pack_json(cursor)))

    def users(self, target_id: str) -> dict[str, dict]:
        return {e.row_key: unpack_json(e.properties) for e in self.table.query(_users(target_id))}

    def write(self, target_id: str, changed: dict[str, dict | None]) -> None:
        """Upsert each changed user; delete those given as None."""
        for user_id, row in changed.items():
            if row is None:
                self.table.delete(_users(target_id), user_id)
            else:
                self.table.upsert(Entity(_users(target_id), user_id, pack_json(row)))

    def forget(self, target_id: str) -> None:
        """Drop the target's cursor and rows (the target was deleted or changed its tenant)."""
        self.write(target_id, dict.fromkeys(self.users(target_id)))
        self.table.delete(CURSORS, target_id)


def _users(target_id: str) -> str:
    return f"users:{target_id}"
