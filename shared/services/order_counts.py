"""Orders by state per target, for the operations view (docs/operations.md).

Counted from the worklists (`orders` partitions `queue:<target>:<state>`, where every order
is listed under its state), one bounded query per target and state: a cell reads at most
`COUNTED` + 1 rows, so the view reads at most targets × 7 × (`COUNTED` + 1) rows however
many orders there are (day one leaves ~80,000 Executed). A cell over the bound shows
`COUNTED` and names the state in `capped`; the worklist (`/api/orders?target=&state=`, the
console's worklist) pages through all of them. A crash between listing an order in its new
state and unlisting it from the old one (shared/store/orders.py) may count it twice until
the sweep repairs the index.
"""

from __future__ import annotations

from typing import Any

from shared.models.provisioning import OrderState
from shared.runtime import Runtime
from shared.store.orders import OrderRepository
from shared.store.targets import TargetRepository

COUNTED = 1000  # orders counted per target and state; more shows as this number, capped


def orders_by_state(rt: Runtime, bound: int = COUNTED) -> list[dict[str, Any]]:
    """Per target (id order): its connector and how many orders are in each state (up to
    `bound`), with the states whose count reached past the bound in `capped`."""
    repo, rows = OrderRepository(rt.store), []
    for target in TargetRepository(rt.store).all():
        counts = {state.value: _count(repo, target.id, state, bound) for state in OrderState}
        rows.append({
            "target_id": target.id, "name": target.name, "connector": target.connector,
            "counts": {state: min(n, bound) for state, n in counts.items()},
            "capped": [state for state, n in counts.items() if n > bound],
        })
    return rows


def _count(repo: OrderRepository, target_id: str, state: OrderState, bound: int) -> int:
    """Up to `bound` + 1: one more than the bound says there are more."""
    return sum(1 for _ in repo.queue(target_id, state, limit=bound + 1))
