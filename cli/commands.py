"""What each `python -m cli` command does: import (with progress, results and dry run),
status (the chain's operations view) and worklist export."""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from cli.client import Api

BATCH_BYTES = 3 * 1024 * 1024  # under the bulk route's 4 MiB
JSON = {"content-type": "application/json"}


def batches(updates: list, size: int) -> Iterator[tuple[int, bytes]]:
    """Runs of at most `size` records and about BATCH_BYTES each: (how many, the JSON array as
    sent) — each record encoded once, for its size and for the body."""
    encoded: list[bytes] = []
    weight = 0
    for update in updates:
        record = json.dumps(update, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        if encoded and (len(encoded) == size or weight + len(record) > BATCH_BYTES):
            yield len(encoded), b"[" + b",".join(encoded) + b"]"
            encoded, weight = [], 0
        encoded.append(record)
        weight += len(record)
    if encoded:
        yield len(encoded), b"[" + b",".join(encoded) + b"]"


def import_updates(api: Api, updates: list, console: Console, dry_run: bool, batch_size: int) -> list[dict]:
    """Send every update through `POST /api/persons/bulk`, showing progress; the per-record results."""
    results: list[dict] = []
    failed = 0
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[rate]} records/s"), TextColumn("errors {task.fields[failed]}"),
               TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("dry run" if dry_run else "import", total=len(updates), rate="–", failed=0)
        for count, body in batches(updates, batch_size):
            answer = api.call("POST", "/api/persons/bulk", content=body, headers=JSON,
                              params={"dry_run": str(dry_run).lower()})
            results += answer["items"]
            failed += sum(1 for item in answer["items"] if item["outcome"] == "failed")
            elapsed = progress.tasks[0].elapsed or 0
            rate = f"{len(results) / elapsed:,.0f}" if elapsed else "–"
            progress.update(task, advance=count, rate=rate, failed=failed)
    return results


def write_results(results: list[dict], out: TextIO) -> None:
    writer = csv.writer(out)
    writer.writerow(["source_id", "outcome", "person_id", "error"])
    for item in results:
        error = "; ".join(f"{e['field']}: {e['message']}" for e in item.get("errors", []))
        writer.writerow([item.get("source_id", ""), item["outcome"], item.get("person_id", ""), error])


def summary(results: list[dict], dry_run: bool) -> Table:
    """Outcomes; for a dry run also joiners/movers/leavers, groups gained and lost, orders per target."""
    table = Table(title="what would change" if dry_run else "import", show_header=False)
    for outcome, count in sorted(Counter(r["outcome"] for r in results).items()):
        table.add_row(outcome, f"{count:,}")
    if dry_run:
        for step, count in sorted(Counter(r["lifecycle"] for r in results if r.get("lifecycle")).items()):
            table.add_row(f"{step}s", f"{count:,}")
        for change in ("gained", "lost"):
            groups = Counter(g for r in results for g in (r.get("groups") or {}).get(change, []))
            for group, count in sorted(groups.items()):
                table.add_row(f"group {change}: {group}", f"{count:,}")
        orders = Counter((t, a) for r in results for t, actions in (r.get("orders") or {}).items()
                         for a, n in actions.items() for _ in range(n))
        for (target, action), count in sorted(orders.items()):
            table.add_row(f"orders on {target}: {action}", f"{count:,}")
    return table


def status(api: Api, console: Console) -> None:
    console.print_json(data=api.call("GET", "/api/ops/chain"))


def export_worklist(api: Api, target: str, out: TextIO) -> int:
    """The target's manual worklist (orders waiting on staff) as CSV; follows `next` to the end."""
    writer = csv.writer(out)
    writer.writerow(["order_id", "person_id", "action", "entitlement", "state", "created_at", "reason"])
    params: dict[str, str] = {"target": target, "state": "Transmitted"}
    count = 0
    while True:
        page = api.call("GET", "/api/orders", params=params)
        for order in page["items"]:
            writer.writerow([order["id"], order["person_id"], order["action"], order["entitlement"], order["state"],
                             order.get("created_at", ""), order.get("reason", "")])
            count += 1
        if not page.get("next"):
            return count
        params = {**params, "next": page["next"]}


def stdout() -> TextIO:
    return sys.stdout


def results_file(path: Path) -> TextIO:
    return path.open("w", newline="", encoding="utf-8")
