"""`python -m cli import FILE --url URL --key KEY --source SOURCE [--mapping MAP] [--dry-run]
[--results OUT]`, `python -m cli status`, `python -m cli worklist export TARGET`.

The URL and key may also come from ROSTER_URL and ROSTER_KEY (so the key stays out of the
shell history). Exit codes: 0 done, 1 some records failed, 2 the file or a call was refused.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from rich.console import Console

from cli import commands
from cli.client import Api, ApiError
from cli.records import ExportError, now, read_mapping, read_updates


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cli", description="Roster's command-line client.")
    p.add_argument("--url", default=os.environ.get("ROSTER_URL", "http://127.0.0.1:7071"),
                   help="Roster's address (default $ROSTER_URL or http://127.0.0.1:7071)")
    p.add_argument("--key", default=os.environ.get("ROSTER_KEY"), help="API key (default $ROSTER_KEY)")
    sub = p.add_subparsers(dest="command", required=True)
    load = sub.add_parser("import", help="load an HR export (CSV, JSON or NDJSON) through the bulk API")
    load.add_argument("file", type=Path)
    load.add_argument("--source", required=True, help="the HR source these records come from, e.g. hr")
    load.add_argument("--mapping", type=Path, help='JSON {"their column": "our column"} for a CSV export')
    load.add_argument("--as-of", type=datetime.fromisoformat, help="the export's time (default now)")
    load.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    load.add_argument("--results", type=Path, help="write one CSV line per record: source_id, outcome, error")
    load.add_argument("--batch", type=int, default=500, help="records per call (at most 1000)")
    sub.add_parser("status", help="the chain's operations view")
    worklist = sub.add_parser("worklist", help="the manual worklist")
    worklist.add_argument("action", choices=["export"])
    worklist.add_argument("target")
    worklist.add_argument("--out", type=Path, help="CSV file (default: standard output)")
    return p


def main(argv: Sequence[str] | None = None, console: Console | None = None, api: Api | None = None) -> int:
    args = parser().parse_args(argv)
    console = console or Console(stderr=True)
    if api is None and not args.key:
        console.print("[red]no key: give --key or set ROSTER_KEY")
        return 2
    api = api or Api(args.url, args.key)
    try:
        return _run(args, api, console)
    except (ExportError, ApiError, OSError) as exc:
        console.print(f"[red]{exc}", highlight=False)
        return 2
    finally:
        api.close()


def _run(args: argparse.Namespace, api: Api, console: Console) -> int:
    if args.command == "status":
        commands.status(api, console)
        return 0
    if args.command == "worklist":
        out = commands.results_file(args.out) if args.out else commands.stdout()
        count = commands.export_worklist(api, args.target, out)
        console.print(f"{count:,} orders on the worklist of {args.target}", highlight=False)
        return 0
    updates = read_updates(args.file, args.source, args.as_of or now(), read_mapping(args.mapping))
    results = commands.import_updates(api, updates, console, args.dry_run, min(max(args.batch, 1), 1000))
    if args.results:
        with commands.results_file(args.results) as out:
            commands.write_results(results, out)
    console.print(commands.summary(results, args.dry_run))
    return 1 if any(r["outcome"] == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
