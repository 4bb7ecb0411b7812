"""The index never drops a true match, and a selective rule meets few persons."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from shared.rules import RuleIndex, parse
from tests.rules.people import AT, affiliation, person, view

ORGS = ["FIN", "HR", "IT", "LAW"]
TYPES = ["employee", "faculty", "student", "guest"]
NAMES = ["Ada", "Grace", "Alan"]
CAMPUSES = ["North", "South"]
GROUPS = ["g1", "g2", "g3"]


def text_value(rnd: random.Random, pool: list[str]) -> str:
    value = rnd.choice(pool)
    return f'"{value.upper() if rnd.random() < 0.2 else value}"'


def text_op(rnd: random.Random, subject: str, pool: list[str]) -> str:
    op = rnd.choice(["-eq", "-eq", "-ne", "-in", "-notIn", "-startsWith", "-notContains", "-match", "-lt"])
    if op in ("-in", "-notIn"):
        values = ", ".join(text_value(rnd, pool) for _ in range(rnd.randint(1, 3)))
        return f"{subject} {op} [{values}]"
    if op == "-match":
        return f'{subject} -match "^{rnd.choice(pool)[:2]}"'
    return f"{subject} {op} {text_value(rnd, pool)}"


def person_clause(rnd: random.Random, depth: int) -> str:
    pick = rnd.randrange(12)
    if pick == 0:
        return text_op(rnd, "person.givenName", NAMES)
    if pick == 1:
        return text_op(rnd, "person.attributes.campus", CAMPUSES)
    if pick == 2:
        op = rnd.choice(["-eq", "-ne", "-gt", "-le"])
        return f"person.attributes.grade {op} {rnd.randint(1, 4)}"
    if pick == 3:
        return f"person.attributes.grade -in [{rnd.randint(1, 4)}, \"{rnd.randint(1, 4)}\"]"
    if pick == 4:
        return f"person.attributes.{rnd.choice(['grade', 'campus'])} {rnd.choice(['-eq', '-ne'])} null"
    if pick == 5:
        return f'person.status -eq "{rnd.choice(["active", "inactive"])}"'
    if pick == 6:
        return f'person.birthDate {rnd.choice(["-lt", "-eq", "-ge"])} "1990-0{rnd.randint(1, 3)}-01"'
    if pick == 7:
        values = ", ".join(f'"{g}"' for g in rnd.sample(GROUPS, rnd.randint(1, 2)))
        return f"person.memberOf -{rnd.choice(['any', 'all'])} (_ -in [{values}])"
    if pick == 8:
        return f'person.sources -any (_ -eq "{rnd.choice(["hr", "sis"])}")'
    if pick == 9:
        return f'person.emails -any (_ -endsWith "@{rnd.choice(["a.edu", "b.edu"])}")'
    quantifier = rnd.choice(["-any", "-any", "-all"])
    return f"person.affiliations {quantifier} ({expression(rnd, depth + 1, affiliation_clause)})"


def affiliation_clause(rnd: random.Random, depth: int) -> str:
    pick = rnd.randrange(5)
    if pick == 0:
        return text_op(rnd, "affiliation.organization", ORGS)
    if pick == 1:
        op = rnd.choice(["-eq", "-in", "-ne"])
        return f'affiliation.type {op} {"[" + text_value(rnd, TYPES) + "]" if op == "-in" else text_value(rnd, TYPES)}'
    if pick == 2:
        return f'affiliation.source -eq "{rnd.choice(["hr", "sis"])}"'
    if pick == 3:
        if rnd.random() < 0.3:
            return "affiliation.attributes.fte -in [0.5, 1]"
        return f"affiliation.attributes.fte {rnd.choice(['-eq', '-gt'])} {rnd.choice(['0.5', '1'])}"
    return f"affiliation.end {rnd.choice(['-eq', '-ne'])} null"


def expression(rnd: random.Random, depth: int = 0, clause=person_clause) -> str:
    roll = rnd.random() if depth < 3 else 0.0
    if roll < 0.45:
        return clause(rnd, depth)
    if roll < 0.55:
        return f"-not ({expression(rnd, depth + 1, clause)})"
    joiner = rnd.choice([" -and ", " -or "])
    parts = [expression(rnd, depth + 1, clause) for _ in range(rnd.randint(2, 3))]
    joined = joiner.join(parts)
    return f"({joined})" if rnd.random() < 0.7 else joined


def random_person(rnd: random.Random, n: int):
    affiliations = []
    for k in range(rnd.randint(0, 3)):
        start = AT - timedelta(days=rnd.randint(-30, 400))
        end = None if rnd.random() < 0.4 else (AT + timedelta(days=rnd.randint(-60, 200))).date()
        if end is not None and end < start.date():
            end = start.date()
        affiliations.append(affiliation(
            key=f"a{k}", source=rnd.choice(["hr", "sis"]), type=rnd.choice(TYPES), organization=rnd.choice(ORGS),
            start=start.date().isoformat(), end=end.isoformat() if end else None,
            attributes=rnd.choice([{}, {"fte": 0.5}, {"fte": 1}, {"fte": "1"}]),
        ))
    attributes = {}
    if rnd.random() < 0.8:
        attributes["campus"] = rnd.choice(CAMPUSES + ["north"])
    if rnd.random() < 0.8:
        attributes["grade"] = rnd.choice([1, 2, 3, 4, "2", "3", 2.0])
    who = person(
        id=f"P{n:07d}",
        names={"given": rnd.choice(NAMES), "family": "Test"},
        birth_date=rnd.choice([None, "1990-01-01", "1990-02-01", "1990-03-01"]),
        emails=[{"address": f"p{n}@{rnd.choice(['a.edu', 'b.edu'])}"}] * rnd.randint(0, 1),
        identifiers=[{"source": s, "source_id": f"X{n}"} for s in rnd.sample(["hr", "sis"], rnd.randint(0, 2))],
        affiliations=affiliations,
        attributes=attributes,
    )
    return view(who, member_of=rnd.sample(GROUPS, rnd.randint(0, 2)))


def test_the_index_never_drops_a_true_match_on_random_rules_and_persons():
    rnd = random.Random(20261102)
    rules = {}
    while len(rules) < 300:
        text = expression(rnd)
        rules[f"r{len(rules)}"] = parse(text)
    persons = [random_person(rnd, n) for n in range(200)]
    index = RuleIndex(rules)
    indexed = set(rules) - index.unindexed()
    assert len(indexed) > 100  # the test exercises the index, not only its fallback
    pairs = matched = 0
    for who in persons:
        truth = {g for g, rule in rules.items() if rule.evaluate(who)}
        candidates = index.candidates(who)
        assert truth <= candidates, {g: rules[g].text for g in truth - candidates}
        assert len(candidates & indexed) < len(indexed)  # and it does filter
        assert index.matches(who) == truth
        pairs += len(rules)
        matched += len(truth)
    assert pairs == 60_000
    assert 0.05 < matched / pairs < 0.95  # the rules are neither all true nor all false


def test_explanations_agree_with_evaluation():
    rnd = random.Random(7)
    rules = [parse(expression(rnd)) for _ in range(200)]
    persons = [random_person(rnd, n) for n in range(20)]
    for rule in rules:
        for who in persons:
            assert rule.explain(who).result == rule.evaluate(who), rule.text


def organization_rules(count: int = 1_000) -> dict:
    return {
        f"org-{n}": parse(
            f'person.affiliations -any (affiliation.organization -eq "ORG{n:03d}" -and affiliation.type -eq "employee")'
        )
        for n in range(count)
    }


def test_a_person_meets_only_the_rules_of_their_organizations():
    index = RuleIndex(organization_rules())
    who = view(person(affiliations=[affiliation(organization="ORG042"), affiliation(key="b", organization="ORG007",
                                                                                    type="student")]))
    assert index.candidates(who) == {"org-42", "org-7"}
    assert index.matches(who) == {"org-42"}


def test_an_and_is_indexed_on_its_more_selective_side():
    index = RuleIndex({"fin": parse(
        'person.status -eq "active" -and person.affiliations -any (affiliation.type -eq "employee" '
        '-and affiliation.organization -eq "FIN")')})
    assert index.candidates(view(person(affiliations=[affiliation(organization="HR")]))) == set()
    assert index.candidates(view()) == {"fin"}


@pytest.mark.parametrize("text", [
    'person.givenName -ne "Ada"',
    'person.email -contains "@example"',
    'person.displayName -match "^a"',
    '-not person.affiliations -any (affiliation.type -eq "student")',
    "person.attributes.grade -gt 3",
    "person.attributes.grade -eq null",
    'person.affiliations -all (affiliation.type -eq "employee")',
    'person.givenName -eq "Ada" -or person.familyName -startsWith "L"',
])
def test_rules_that_cannot_be_indexed_are_candidates_for_everyone(text):
    index = RuleIndex({"g": parse(text)})
    assert index.unindexed() == {"g"}
    assert index.candidates(view(person(names={"given": "Zed", "family": "Zulu"}, affiliations=[]))) == {"g"}


def test_rules_can_be_replaced_and_removed():
    index = RuleIndex(organization_rules(3))
    fin = view(person(affiliations=[affiliation(organization="ORG001")]))
    assert index.matches(fin) == {"org-1"}
    index.add("org-1", parse('person.givenName -eq "Grace"'))
    assert index.candidates(fin) == set()
    index.add("org-2", parse('person.affiliations -any (affiliation.organization -in ["ORG001", "ORG002"])'))
    assert index.matches(fin) == {"org-2"}
    index.remove("org-2")
    index.remove("org-2")  # removing twice is harmless
    assert index.matches(fin) == set()
    assert len(index) == 2 and "org-0" in index and "org-2" not in index


def test_numbers_and_booleans_are_indexed_like_their_comparisons():
    index = RuleIndex({
        "five": parse("person.attributes.grade -eq 5"),
        "text-five": parse('person.attributes.grade -in ["5"]'),
        "remote": parse("person.attributes.remote -eq true"),
    })
    assert index.matches(view(person(attributes={"grade": "5.0", "remote": "TRUE"}))) == {"five", "remote"}
    assert index.matches(view(person(attributes={"grade": 5, "remote": True}))) == {"five", "text-five", "remote"}
