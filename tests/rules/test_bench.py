"""The rules benchmark runs (tiny sizes) and its index agrees with evaluating every rule."""

from __future__ import annotations

from bench import rules as bench


def test_the_benchmark_runs_and_finds_the_same_memberships_both_ways():
    figures = bench.run(rule_count=120, persons=300, sample=50, probes=40)
    assert figures["unindexed_rules"] == 2
    assert figures["candidates_per_person"] < 120
    assert figures["memberships"] > 0


def test_synthetic_rules_all_parse():
    texts = bench.synthetic_rules(1_000)
    assert len({bench.parse(t) for t in texts.values()}) > 500
