"""The directory connectors' benchmark runs (tiny size) and its figures are sane."""

from __future__ import annotations

from bench import targets as bench


def test_the_benchmark_runs_against_the_stand_in_and_slapd_and_batching_pays():
    figures = bench.run(people=3)

    assert figures["people"] == 3
    assert set(figures["entra"]) >= {"create_account", "grant", "suspend", "batch_speedup"}
    assert set(figures["ldap"]) >= {"create_account", "grant", "disable_account", "paged_read_of_3_entries_ms"}
    assert all(value > 0 for kind in ("entra", "ldap") for value in figures[kind].values())
