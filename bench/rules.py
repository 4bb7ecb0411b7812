"""Membership rules: one person against 1,000 dynamic rules, and 100,000 persons, naive vs indexed."""

from __future__ import annotations

import json
import random
import statistics
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from bench.common import progress, show
from shared.models.person import Person
from shared.rules import PersonView, Rule, RuleIndex, parse

TZ = ZoneInfo("Europe/Brussels")
AT = datetime(2026, 11, 2, 9, 0, tzinfo=TZ)
ORGANIZATIONS = [f"ORG{n:03d}" for n in range(500)]
CAMPUSES = [f"C{n:02d}" for n in range(40)]
GROUPS = [f"group-{n:03d}" for n in range(200)]
TYPES = ["employee", "employee", "employee", "faculty", "staff", "student", "student", "contractor"]
GIVEN = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Niklaus"]
FAMILY = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Wirth"]


def synthetic_rules(count: int = 1_000, seed: int = 7) -> dict[str, str]:
    """Mostly one organization and type; some -in lists, attributes, composites; ~1% unindexable."""
    rnd = random.Random(seed)
    rules: dict[str, str] = {}
    for n in range(count):
        org, kind, roll = rnd.choice(ORGANIZATIONS), rnd.choice(TYPES), rnd.random()
        if n % 100 == 0:  # the unindexable few, spread over the set
            text = rnd.choice([
                'person.emails -any (_ -endsWith "@lab.example.edu")',
                'person.displayName -match "^(ada|grace) "',
                f'person.givenName -contains "an" -and -not person.attributes.campus -eq "{rnd.choice(CAMPUSES)}"',
                '-not (person.affiliations -any (affiliation.type -in ["student","guest"]))',
            ])
        elif roll < 0.70:
            text = (f'person.affiliations -any (affiliation.organization -eq "{org}" '
                    f'-and affiliation.type -eq "{kind}")')
        elif roll < 0.80:
            orgs = ",".join(f'"{o}"' for o in rnd.sample(ORGANIZATIONS, 3))
            text = f'person.affiliations -any (affiliation.organization -in [{orgs}])'
        elif roll < 0.88:
            text = (f'person.attributes.campus -eq "{rnd.choice(CAMPUSES)}" '
                    f'-and person.attributes.grade -gt {rnd.randint(1, 8)}')
        elif roll < 0.93:
            text = f'person.memberOf -any (_ -eq "{rnd.choice(GROUPS)}") -and person.status -eq "active"'
        elif roll < 0.97:
            text = (f'person.sources -any (_ -eq "hr") -and person.affiliations -any '
                    f'(affiliation.organization -eq "{org}" -and affiliation.title -startsWith "Prof")')
        else:
            text = (f'(person.affiliations -any (affiliation.type -eq "{kind}" -and affiliation.organization '
                    f'-eq "{org}")) -or person.attributes.campus -in ["{rnd.choice(CAMPUSES)}"]')
        rules[f"dyn-{n:04d}"] = text
    return rules


def synthetic_person(n: int, rnd: random.Random) -> Person:
    affiliations = []
    for k in range(rnd.choice([1, 1, 1, 2, 2, 3])):
        ended = rnd.random() < 0.15  # some affiliations are over at the instant: not seen
        affiliations.append({
            "source": "hr" if k == 0 else rnd.choice(["hr", "sis"]), "key": f"a{k}",
            "type": rnd.choice(TYPES), "organization": rnd.choice(ORGANIZATIONS),
            "title": rnd.choice(["Professor", "Analyst", "Clerk", None]),
            "start": "2024-01-01", "end": "2026-06-30" if ended else rnd.choice([None, "2027-06-30"]),
        })
    return Person.model_validate({
        "id": f"P{n:07d}",
        "names": {"given": GIVEN[n % 10], "family": f"{FAMILY[(n // 10) % 10]}{n}"},
        "emails": [{"address": f"person{n}@example.edu"}],
        "affiliations": affiliations,
        "attributes": {"campus": rnd.choice(CAMPUSES), "grade": rnd.randint(1, 10)},
        "created_at": "2026-01-01T00:00:00+00:00", "updated_at": "2026-01-01T00:00:00+00:00",
    })


def views(count: int, seed: int, label: str) -> tuple[list[PersonView], float]:
    """PersonViews of synthetic persons, and the seconds spent making views (not persons)."""
    rnd = random.Random(seed)
    made, spent = [], 0.0
    with progress(label, count) as step:
        for n in range(count):
            person = synthetic_person(n, rnd)
            member_of = rnd.sample(GROUPS, rnd.randint(0, 4))
            start = time.perf_counter()
            made.append(PersonView.of(person, AT, TZ, member_of))
            spent += time.perf_counter() - start
            if n % 1000 == 0:
                step_many(step, min(1000, count - n))
    return made, spent


def step_many(step, times: int) -> None:
    for _ in range(times):
        step()


def naive(rules: dict[str, Rule], view: PersonView) -> set[str]:
    return {g for g, rule in rules.items() if rule.evaluate(view)}


def run(rule_count: int = 1_000, persons: int = 100_000, sample: int = 5_000, probes: int = 2_000) -> dict:
    texts = synthetic_rules(rule_count)
    start = time.perf_counter()
    rules = {g: parse(t) for g, t in texts.items()}
    parse_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    index = RuleIndex(rules)
    index_ms = (time.perf_counter() - start) * 1000

    # (1) one person against every rule: median over many persons.
    probe_views, _ = views(probes, 1, f"{probes:,} persons for single-person timing")
    one_naive, one_indexed, candidates, matched = [], [], [], []
    with progress(f"one person × {rule_count:,} rules", probes) as step:
        for view in probe_views:
            t0 = time.perf_counter()
            expected = naive(rules, view)
            t1 = time.perf_counter()
            found = index.matches(view)
            t2 = time.perf_counter()
            if found != expected:
                raise AssertionError(f"index missed {expected - found} for {view}")
            one_naive.append(t1 - t0)
            one_indexed.append(t2 - t1)
            candidates.append(len(index.candidates(view)))
            matched.append(len(found))
            step()
    naive_us, indexed_us = statistics.median(one_naive) * 1e6, statistics.median(one_indexed) * 1e6

    # (2) every person against every rule, views in memory.
    all_views, view_s = views(persons, 2, f"making {persons:,} person views")
    start = time.perf_counter()
    with progress(f"{persons:,} persons × {rule_count:,} rules, indexed", persons) as step:
        memberships = 0
        for n, view in enumerate(all_views):
            memberships += len(index.matches(view))
            if n % 1000 == 999:
                step_many(step, 1000)
    indexed_s = time.perf_counter() - start
    sample_views = all_views[:sample]
    start = time.perf_counter()
    with progress(f"{sample:,} persons × {rule_count:,} rules, naive", sample) as step:
        for view in sample_views:
            naive(rules, view)
            step()
    naive_sample_s = time.perf_counter() - start
    naive_s = naive_sample_s * persons / sample

    figures = {
        "rules": rule_count,
        "persons": persons,
        "parse_ms": parse_ms,
        "index_build_ms": index_ms,
        "unindexed_rules": len(index.unindexed()),
        "one_person_naive_us": naive_us,
        "one_person_indexed_us": indexed_us,
        "one_person_speedup": naive_us / indexed_us,
        "candidates_per_person": statistics.mean(candidates),
        "matches_per_person": statistics.mean(matched),
        "view_us": view_s / persons * 1e6,
        "all_indexed_s": indexed_s,
        "all_naive_s_extrapolated": naive_s,
        "naive_sample_persons": sample,
        "all_speedup": naive_s / indexed_s,
        "memberships": memberships,
    }
    show(f"Membership rules ({rule_count:,} dynamic rules, in-memory person views)", [
        (f"parse and check {rule_count:,} rules", f"{parse_ms:.0f} ms"),
        ("build the index", f"{index_ms:.1f} ms ({figures['unindexed_rules']} rules unindexable)"),
        (f"one person × {rule_count:,} rules, naive (median of {probes:,})", f"{naive_us / 1000:.3f} ms"),
        (f"one person × {rule_count:,} rules, indexed (median)", f"{indexed_us:.1f} µs"),
        ("  speed-up", f"×{figures['one_person_speedup']:.0f}"),
        ("  candidates / matches per person",
         f"{figures['candidates_per_person']:.1f} / {figures['matches_per_person']:.2f}"),
        ("make a PersonView from a Person", f"{figures['view_us']:.1f} µs"),
        (f"{persons:,} persons × {rule_count:,} rules, indexed", f"{indexed_s:.2f} s"),
        ("  with making the views", f"{indexed_s + view_s:.2f} s"),
        (f"{persons:,} persons × {rule_count:,} rules, naive (extrapolated from {sample:,})",
         f"{naive_s:.1f} s"),
        ("  speed-up", f"×{figures['all_speedup']:.0f}"),
        ("  memberships found", f"{memberships:,}"),
    ])
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
