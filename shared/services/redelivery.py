"""Automatic orders that must wait: a transient fault, or a paused target. The order stays
Pending with `next_attempt_at` set, and a `provisioning-order` message is scheduled for
then — the handler never sleeps, so one slow target holds up no other (docs/operations.md).

A scheduled message's id is `order:<id>:<attempts>:at:<when>`, the same for the same wait,
so a repeated publish is dropped by the bus's duplicate detection.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.connectors import Outcome
from shared.connectors.base import attempts_allowed
from shared.models.provisioning import Move, Order, OrderState, Target
from shared.runtime import Runtime
from shared.services.provisioning import order_message, transition
from shared.services.relay import publish
from shared.store.orders import OrderRepository
from shared.store.targets import TargetRepository

RETRY_BASE = timedelta(seconds=5)  # before the second attempt; doubles for each one after
MAX_RETRY_DELAY = timedelta(minutes=15)  # the longest wait, Retry-After included
EARLY = timedelta(seconds=2)  # a scheduled message this close to its time counts as due (clock skew)
PAUSED = "target paused"
ACCOUNT_FIRST = "waits for the account's order"


def retry_delay(failures: int, retry_after: float | None) -> timedelta:
    """The wait after `failures` transient faults in a row: 5 s, 10 s, 20 s, …, or the
    target's Retry-After when longer — never more than MAX_RETRY_DELAY."""
    delay = RETRY_BASE * 2 ** (failures - 1)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return min(delay, MAX_RETRY_DELAY)


def too_early(order: Order, now: datetime) -> bool:
    """Whether a delivery arrived before the order's next attempt is due (a redelivery of
    an earlier message): it is put back on schedule instead of calling the target."""
    return order.next_attempt_at is not None and now < order.next_attempt_at - EARLY


def reschedule(rt: Runtime, order: Order) -> None:
    """(Re)publish the message that carries out `order` at its `next_attempt_at`."""
    assert order.next_attempt_at is not None
    publish(rt, order_message(order, TargetRepository(rt.store).get(order.target_id)))


def retry_later(rt: Runtime, target: Target, order: Order, outcome: Outcome) -> Order:
    """A transient fault: another attempt, scheduled with backoff; Errored once the target's
    attempts are used up."""
    failures, by = order.failures + 1, f"connector:{target.connector}"
    allowed = attempts_allowed(target)
    if failures >= allowed:
        note = f"{outcome.note} after {failures} attempts"
        return transition(rt, order.id, Move.carry_out, OrderState.errored, by, note,
                          failures=failures, next_attempt_at=None, error=note)
    at = rt.clock.now() + retry_delay(failures, outcome.retry_after)
    note = f"{outcome.note} (attempt {failures} of {allowed}); next attempt at {at.isoformat()}"
    return transition(rt, order.id, Move.defer, OrderState.pending, by, note, announce=True,
                      attempts=order.attempts + 1, failures=failures, next_attempt_at=at, error=outcome.note)


def wait_for_target(rt: Runtime, target: Target, order: Order, until: datetime) -> Order:
    """The target's circuit is open: the order waits until it may be probed."""
    return _wait(rt, order, until, PAUSED, f"{PAUSED} after repeated faults; next attempt at {until.isoformat()}")


def wait_for_account(rt: Runtime, order: Order, until: datetime) -> Order:
    """A grant whose account's order is still Pending waits, without calling the target or
    using up an attempt: once the account's order is settled, the grant goes ahead."""
    return _wait(rt, order, until, ACCOUNT_FIRST, f"{ACCOUNT_FIRST}; next attempt at {until.isoformat()}")


def _wait(rt: Runtime, order: Order, until: datetime, reason: str, note: str) -> Order:
    """The order waits until `until`. The first wait for `reason` is recorded in the
    order's history; later ones only move `next_attempt_at`."""
    if order.error is not None and order.error.startswith(reason):
        updated = _move_silently(rt, order, until, note)
        reschedule(rt, updated)
        return updated
    return transition(rt, order.id, Move.defer, OrderState.pending, "roster", note, announce=True,
                      next_attempt_at=until, error=note)


def _move_silently(rt: Runtime, order: Order, until: datetime, note: str) -> Order:
    """Only the order's wait changes (no state change, no history): one etag-guarded write."""
    repo = OrderRepository(rt.store)
    found = repo.get(order.id)
    assert found is not None
    current, etag = found
    updated = current.model_copy(update={"next_attempt_at": until, "error": note})
    repo.commit(current.person_id, [(updated, etag, current.state)], [], [])
    return updated
