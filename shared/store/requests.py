"""How a request becomes entities.

- `requestintake`, partition `intake`: row `counter` {last} and one row `form|<form response
  id>` per submission {number, received_at, the submission}. A number is reserved by one
  batch that bumps the counter (ETag) *and* inserts the claim, so a number exists exactly
  when a form response holds it: no gaps, no duplicates, and a retry finds its number.
- `requests`, partition = the number: row `request` (the document, without comments),
  rows `comment|<seq>`, `audit|…` (the trail) and `pending|<version>|<n>`: notifications
  written in the same batch as the change that caused them, sent afterwards and then
  deleted (a transactional outbox: a crash in between leaves them to be sent next time).
- `requestindex`, partition `requests`, row = number {state, owner, service, category}:
  what `GET /requests?state=&owner=` reads; rewritten after every change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.models.request import Comment, Request, RequestSubmission
from shared.store.audit import audit_trail
from shared.store.documents import pack_json, unpack_json
from shared.store.port import BatchFailed, Entity, EntityNotFound, ETagMismatch, Op, TableStore

INTAKE = "intake"
COUNTER_ROW = "counter"
REQUEST_ROW = "request"
INDEX = "requests"
COMMENT = "comment|"
PENDING = "pending|"
PREFIX = "REQ-"


def format_number(n: int) -> str:
    return f"{PREFIX}{n:06d}"


@dataclass(frozen=True)
class Claim:
    """A form response and the number reserved for it."""

    form_response_id: str
    number: str
    received_at: datetime
    submission: RequestSubmission


@dataclass(frozen=True)
class StoredRequest:
    request: Request
    etag: str


@dataclass(frozen=True)
class Pending:
    """Something waiting to leave: an email for the bus, a Teams channel post, or a ticket
    event for the tracker mirror's queue."""

    kind: Literal["email", "teams", "ticket"]
    id: str
    body: dict[str, Any]
    etag: str | None = None
    row_key: str = ""


class RequestRepository:
    def __init__(self, store: TableStore):
        self.intake = store.table("requestintake")
        self.requests = store.table("requests")
        self.index_table = store.table("requestindex")

    # -- intake ---------------------------------------------------------------------------

    def claim(self, form_response_id: str) -> Claim | None:
        entity = self.intake.get(INTAKE, f"form|{form_response_id}")
        if entity is None:
            return None
        props = entity.properties
        return Claim(
            form_response_id,
            props["number"],
            props["received_at"],
            RequestSubmission.model_validate(unpack_json(props)),
        )

    def reserve(self, submission: RequestSubmission, at: datetime) -> Claim:
        """Take the next number for this form response in one atomic batch.

        Raises ETagMismatch or EntityExists when another submission won the race (the
        caller reads the claim again and retries)."""
        counter = self.intake.get(INTAKE, COUNTER_ROW)
        last = counter.properties["last"] if counter else 0
        number = format_number(last + 1)
        bump = Entity(INTAKE, COUNTER_ROW, {"last": last + 1})
        claim = Entity(
            INTAKE,
            f"form|{submission.form_response_id}",
            {"number": number, "received_at": at, **pack_json(submission.model_dump(mode="json"))},
        )
        ops = [Op("replace", bump, counter.etag) if counter else Op("insert", bump), Op("insert", claim)]
        self._batch(self.intake, INTAKE, ops)
        return Claim(submission.form_response_id, number, at, submission)

    def last_number(self) -> int:
        counter = self.intake.get(INTAKE, COUNTER_ROW)
        return counter.properties["last"] if counter else 0

    # -- requests -------------------------------------------------------------------------

    def get(self, number: str) -> StoredRequest | None:
        entity = self.requests.get(number, REQUEST_ROW)
        if entity is None:
            return None
        data = unpack_json(entity.properties)
        data["comments"] = [
            unpack_json(row.properties) for row in self.requests.query(number, prefix=COMMENT)
        ]
        return StoredRequest(Request.model_validate(data), entity.etag)

    def create(self, request: Request, audit: Entity, pending: list[Pending]) -> None:
        """Insert the request, its first audit record and its notifications; EntityExists
        if the number is already taken by a request."""
        self._write(request, [Op("insert", self._entity(request)), Op("insert", audit)], pending)

    def replace(
        self,
        request: Request,
        etag: str,
        audit: Entity,
        pending: list[Pending],
        comment: Comment | None = None,
    ) -> None:
        """Replace if `etag` is still current (ETagMismatch otherwise), with the audit
        record, the notifications and a new comment (the last of `request.comments`; two
        writers adding one race for its row: EntityExists), all or nothing."""
        ops = [Op("replace", self._entity(request), etag), Op("insert", audit)]
        if comment is not None:
            row = f"{COMMENT}{len(request.comments) - 1:06d}"
            ops.append(Op("insert", Entity(request.number, row, pack_json(comment.model_dump(mode="json")))))
        self._write(request, ops, pending)

    def pending(self, number: str) -> list[Pending]:
        return [
            Pending(
                row.properties["kind"], row.properties["message_id"], unpack_json(row.properties),
                row.etag, row.row_key,
            )
            for row in self.requests.query(number, prefix=PENDING)
        ]  # fmt: skip

    def settle(self, number: str, pending: Pending) -> None:
        """Sent: forget it (already forgotten is fine)."""
        self.requests.delete(number, pending.row_key)

    def take(self, number: str, pending: Pending) -> bool:
        """Remove it if nobody else did first: True for the one caller that may send it."""
        try:
            self.requests.delete(number, pending.row_key, pending.etag)
        except (EntityNotFound, ETagMismatch):
            return False
        return True

    def trail(self, number: str) -> list[dict]:
        return list(audit_trail(self.requests, number))

    # -- the list -------------------------------------------------------------------------

    def index(self, request: Request) -> None:
        self.index_table.upsert(
            Entity(
                INDEX,
                request.number,
                {
                    "state": request.state.value,
                    "owner": request.owner,
                    "service": request.service,
                    "category": request.category.value,
                    "version": request.version,
                },
            )
        )

    def numbers(
        self, *, state: str | None, owner: str | None, start: str | None, limit: int
    ) -> tuple[list[str], str | None]:
        """Numbers in order from `start`, filtered; and the number to continue from."""
        equals: dict[str, Any] = {}
        if state:
            equals["state"] = state
        if owner:
            equals["owner"] = owner
        rows = self.index_table.query(INDEX, start=start, equals=equals or None, limit=limit + 1)
        numbers = [row.row_key for row in rows]
        return numbers[:limit], (numbers[limit] if len(numbers) > limit else None)

    def all(self) -> Iterator[str]:
        for row in self.index_table.query(INDEX):
            yield row.row_key

    # -- helpers --------------------------------------------------------------------------

    def _write(self, request: Request, ops: list[Op], pending: list[Pending]) -> None:
        for position, item in enumerate(pending):
            props = {"kind": item.kind, "message_id": item.id, **pack_json(item.body)}
            row = f"{PENDING}{request.version:06d}|{position:03d}"
            ops.append(Op("insert", Entity(request.number, row, props)))
        self._batch(self.requests, request.number, ops)

    @staticmethod
    def _batch(table, partition: str, ops: list[Op]) -> None:
        try:
            table.batch(partition, ops)
        except BatchFailed as failure:
            raise failure.cause from None

    @staticmethod
    def _entity(request: Request) -> Entity:
        props = pack_json(request.model_dump(mode="json", exclude={"comments"}))
        props["state"] = request.state.value
        props["version"] = request.version
        props["updated_at"] = request.updated_at
        return Entity(request.number, REQUEST_ROW, props)
