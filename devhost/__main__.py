"""`python -m devhost [--port N] [--data-dir DIR]`: run the Functions app on one machine."""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from devhost.host import Host
from devhost.index import AppLoadError, HostFunction


def describe(fn: HostFunction, base: str) -> str:
    """One line of the start-up listing: what triggers the function."""
    if fn.disabled:
        return f"not run: {fn.disabled}"
    if fn.kind == "http" and fn.route is not None:
        methods = ",".join(sorted(fn.methods)) if fn.methods else "ALL"
        return f"[{methods}] {base}/{fn.route.template}"
    if fn.kind == "queue":
        return f"queue {fn.queue}"
    if fn.kind == "timer":
        startup = " (and on start-up)" if fn.trigger.run_on_startup else ""
        return f"timer {fn.schedule}{startup}"
    return fn.kind


def banner(host: Host, list_functions: bool = False) -> str:
    """Where to go first (the console, the API), a count of the functions, and — when asked —
    every function with its route, queue or schedule."""
    assert host.url is not None
    base = f"{host.url}/{host.route_prefix}" if host.route_prefix else host.url
    lines = [f"Roster devhost on {host.url}", ""]
    if any(f.kind == "http" and f.route is not None and f.route.template.startswith("console") for f in host.functions):
        lines.append(f"  Console  {base}/console/")
    lines.append(f"  API      {base}/  (description: {base}/openapi.json)")
    kinds = Counter(f.kind for f in host.functions)
    counted = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    lines += ["", f"Functions: {counted}" + ("" if list_functions else " (--functions lists them)")]
    if list_functions:
        width = max((len(f.name) for f in host.functions), default=0)
        lines += [f"  {f.name.ljust(width)}  {describe(f, base)}" for f in host.functions]
    if host.bus_path:
        lines += ["", f"Local bus: {host.bus_path}"]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m devhost", description="Run the Functions app on one machine."
    )
    p.add_argument("--port", type=int, default=7071, help="HTTP port (default 7071)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--data-dir",
        help="where the SQLite store and local bus live (default: the settings' paths, .roster)",
    )
    p.add_argument("--app", default="function_app:app", help="module:attribute of the FunctionApp")
    p.add_argument("--settings", default="local.settings.json", help="local settings file")
    p.add_argument(
        "--poll-interval", type=float, default=0.1, help="seconds between polls of an idle queue"
    )
    p.add_argument(
        "--lock-seconds", type=float, default=60.0,
        help="peek-lock duration of the local bus (default 60, as Service Bus's PT1M): how long a"
        " message a dead process held stays invisible",
    )
    p.add_argument("--functions", action="store_true", help="list every function at start-up")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    host = Host(
        args.app,
        settings_path=args.settings,
        data_dir=args.data_dir,
        host=args.host,
        port=args.port,
        poll_interval=args.poll_interval,
        bus_options={"lock_duration": timedelta(seconds=args.lock_seconds)},
    )
    try:
        host.serve(on_ready=lambda h: print(banner(h, args.functions), flush=True))
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl+C after its clean shutdown
        return 0
    except (AppLoadError, ValueError) as exc:  # SettingsFileError, SettingsError, bad host.json
        print(f"devhost: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"devhost: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
