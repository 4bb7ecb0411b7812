"""The directory connectors' cost per order: `entra` against the local Graph stand-in and
`ldap` against a real slapd (both from tests/connectors), on 127.0.0.1 only, bounded in count.

Figures: the median milliseconds per order (create, grant, suspend/disable), what one
`$batch` of 20 costs against 20 single calls (the ratio), and an LDAP reconciliation's paged
read of every entry. Medians and ratios, not means: the machine is shared.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench.common import median_ms, progress, show, timed
from shared.connectors.graph import Request, session
from shared.connectors.ldap import LdapConnector
from shared.models.provisioning import Action
from shared.models.target_settings import EntraSettings
from tests.connectors.directory import Orders, a_person, a_target
from tests.connectors.graph_standin import TOKEN, graph_standin
from tests.connectors.slapd import ADMIN_PASSWORD, FINANCE, PASSWORD_ENV, slapd

ENV = {"ROSTER_ALLOW_LOOPBACK": "true", "ROSTER_TARGET_SECRET_GRAPH_TOKEN": TOKEN, PASSWORD_ENV: ADMIN_PASSWORD}


def _orders(target_of, people: int, steps: list[tuple[Action, str]], label: str) -> dict[str, float]:
    """Median ms of each step over `people` persons, each carried out in order."""
    samples: dict[str, list[float]] = {action.value: [] for action, _ in steps}
    with progress(label, people) as advance:
        for n in range(people):
            runner = Orders(target_of(), a_person(f"p-bench-{n}", given="Bench", family=f"Person{n}", email=None))
            for action, entitlement in steps:
                samples[action.value].append(timed(lambda a=action, e=entitlement: runner.do(a, e)))
            advance()
    return {name: round(median_ms(values), 2) for name, values in samples.items()}


def entra(people: int) -> dict[str, float]:
    with graph_standin() as graph:
        group = graph.group()
        target = a_target("entra", graph.settings())
        figures = _orders(lambda: target, people, [(Action.create_account, "account"),
                                                   (Action.grant, f"group:{group}"),
                                                   (Action.suspend, "account")], "entra orders")
        user = next(iter(graph.users))
        reads = [Request("GET", f"/users/{user}?$select=id") for _ in range(20)]
        with session(EntraSettings.model_validate(target.settings)) as client:
            singles = [timed(lambda: [client.send([r]) for r in reads]) for _ in range(10)]
            batched = [timed(lambda: client.send(reads)) for _ in range(10)]
        figures["20_single_calls_ms"] = round(median_ms(singles), 2)
        figures["one_batch_of_20_ms"] = round(median_ms(batched), 2)
        figures["batch_speedup"] = round(median_ms(singles) / median_ms(batched), 1)
        assert graph.violations == [], graph.violations
    return figures


def ldap(people: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, slapd(Path(tmp) / "slapd") as server:
        target = a_target("ldap", server.settings())
        figures = _orders(lambda: target, people, [(Action.create_account, "account"),
                                                   (Action.grant, f"group:{FINANCE}"),
                                                   (Action.disable_account, "account")], "ldap orders")
        reads = [timed(lambda: LdapConnector().accounts(target)) for _ in range(5)]
        figures[f"paged_read_of_{people}_entries_ms"] = round(median_ms(reads), 2)
    return figures


def run(people: int | None = None) -> dict[str, dict[str, float]]:
    people = people or int(os.environ.get("ROSTER_BENCH_TARGET_PEOPLE", "100"))
    saved = {name: os.environ.get(name) for name in ENV}
    os.environ.update(ENV)
    try:
        results = {"people": people, "entra": entra(people), "ldap": ldap(people)}
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    rows = [(f"{kind} {name}", f"{value}") for kind in ("entra", "ldap") for name, value in results[kind].items()]
    show(f"directory connectors, {people} persons (median ms per order)", rows)
    return results


if __name__ == "__main__":
    run()
