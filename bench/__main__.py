"""`make bench`: every benchmark, its figures printed and saved to bench/results/latest.json.

ROSTER_BENCH_PERSONS scales the store-backed groups run (default 100,000 persons);
ROSTER_BENCH_MATCH_SIZES the matching run (default 5000,50000 registered persons);
ROSTER_BENCH_DAYONE the day-one bulk load (default 10,000 records);
ROSTER_BENCH_TARGET_PEOPLE the entra/ldap orders (default 100 persons);
ROSTER_BENCH_SWEEP_PERSONS the sweep's registry (default 2,000);
ROSTER_BENCH_OPS_ORDERS the Executed orders per target behind the operations view (default 20,000);
ROSTER_BENCH_TELEMETRY the registrations per round of the telemetry run (default 500).
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    dayone,
    groups,
    http,
    matching,
    opsview,
    provisioning,
    registration,
    rules,
    scim,
    slowtarget,
    sweep,
    targets,
    telemetry,
)
from bench.common import console


def main() -> None:
    results = {
        "machine": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
        "at": datetime.now(UTC).isoformat(),
        "registration": registration.run(),
        "http": http.run(),
        "rules": rules.run(),
        "groups": groups.run(),
        "provisioning": provisioning.run(),
        "matching": matching.run(),
        "dayone": dayone.run(),
        "scim": scim.run(),
        "slowtarget": slowtarget.run(),
        "targets": targets.run(),
        "sweep": sweep.run(),
        "opsview": opsview.run(),
        "telemetry": telemetry.run(),
    }
    out = Path(__file__).parent / "results" / "latest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    console.print(f"saved {out}")


if __name__ == "__main__":
    main()
