"""What the console's Operations page shows (docs/console.md, docs/operations.md): the
operations view of the chain (shared/services/operations.py: queues, targets and their
circuits, orders by state per target, re-evaluations, outbox, last sweep, day one) and one
list of dead letters — a queue's dead letters on the bus (which an Admin can replay) or the
messages its trigger refused as malformed — a page at a time with the API's `next` token.

Everything comes from the services; a page view costs what `chain_view` costs (bounded:
order counts stop at order_counts.COUNTED per target and state) plus one page of letters.
"""

from __future__ import annotations

from typing import Any

from shared.config import QUEUE_SETTINGS
from shared.errors import Busy, FieldError, InvalidInput
from shared.models.provisioning import OrderState
from shared.runtime import Runtime
from shared.services import operations, paging
from shared.services.deadletters import check_queue

LETTERS_PER_PAGE = 20
BUS, REFUSED = "bus", "refused"
LISTS = {BUS: ("ops.deadletters", operations.dead_letter_page), REFUSED: ("deadletters", operations.refused_page)}
STATES = tuple(state.value for state in OrderState)
# What each check of the day-one verdict says: (passed, failed with n left, cannot be read).
CHECK_WORDS = {
    "queued": ("Nothing waiting in the queues", "Messages waiting in the queues: {n}", "The queue depths cannot be read"),
    "dead_lettered": ("No dead letters", "Dead letters on the bus: {n}", "The dead letters cannot be counted"),
    "outbox": ("No outbox backlog", "Messages in the outbox backlog: {n}", ""),
    "orders_waiting": ("No automatic order waiting", "Automatic orders waiting (Pending): {n}", ""),
    "targets_paused": ("No target paused", "Targets paused (circuit not closed): {n}", ""),
    "reevaluations_running": ("No re-evaluation running", "Re-evaluations running: {n}", ""),
}
NOTE_WORDS = {
    "scheduled": "Messages scheduled for later (dated changes, digests, retries): {n}",
    "refused": "Messages refused as malformed (never retried: fix them at the source): {n}",
    "staff_work": "Orders waiting on staff (worklists and approvals): {n}",
    "errored": "Orders Errored (retry them on the worklist): {n}",
}


def operations_page(rt: Runtime, queue: str | None, kind: str | None, token: str | None) -> dict[str, Any]:
    """The page's data. `queue`/`kind` choose the dead-letter list (by default the first
    queue with bus dead letters, else with refused messages); a bad one is a 422 naming it,
    a forged or mismatched `token` a 400 naming `next`."""
    view = operations.chain_view(rt)
    queue, kind = _chosen(view, queue, kind)
    return {
        "view": view,
        "verdict": verdict(view["day_one"]),
        "letters": letters(rt, queue, kind, token),
        "states": STATES,
    }


def verdict(day_one: dict[str, Any]) -> dict[str, Any]:
    """The day-one verdict in words: a headline, each check (`ok`: True, False or None for
    unknown) and the notes that are not the chain's work (only those with a count)."""
    headline = {True: "Yes: the chain has finished its work", False: "Not yet",
                None: "Cannot tell: part of the chain cannot be read"}[day_one["finished"]]
    checks = [{"ok": c["ok"], "words": _words(CHECK_WORDS[c["check"]], c["ok"], c["count"])}
              for c in day_one["checks"]]
    notes = [NOTE_WORDS[name].format(n=f"{n:,}") for name, n in day_one["notes"].items() if n]
    return {"finished": day_one["finished"], "headline": headline, "checks": checks, "notes": notes}


def letters(rt: Runtime, queue: str, kind: str, token: str | None) -> dict[str, Any]:
    """One page of the chosen list; a bus that cannot be read shows as `error`."""
    list_name, read = LISTS[kind]
    asked = paging.page(list_name, {"queue": queue}, str(LETTERS_PER_PAGE), token)
    try:
        items, following = read(rt, queue, asked)
    except Busy as error:
        return {"queue": queue, "kind": kind, "shown": [], "following": None, "error": error.detail, "paged": bool(token)}
    return {"queue": queue, "kind": kind, "shown": items, "following": following, "error": None, "paged": bool(token)}


def _chosen(view: dict[str, Any], queue: str | None, kind: str | None) -> tuple[str, str]:
    if kind is not None and kind not in LISTS:
        raise InvalidInput("unknown list of dead letters", [FieldError("kind", f"one of {', '.join(LISTS)}")])
    if queue is not None:
        check_queue(queue)
        return queue, kind or BUS
    queues = view["queues"]
    with_letters = next((q["queue"] for q in queues if q["dead_lettered"]), None)
    with_refused = next((q["queue"] for q in queues if q["parked"]), None)
    if kind is None:
        kind = BUS if with_letters or not with_refused else REFUSED
    return (with_letters if kind == BUS else with_refused) or next(iter(QUEUE_SETTINGS)), kind


def _words(words: tuple[str, str, str], ok: bool | None, count: int | None) -> str:
    passed, failed, unknown = words
    if ok is None:
        return unknown
    return passed if ok else failed.format(n=f"{count:,}")
