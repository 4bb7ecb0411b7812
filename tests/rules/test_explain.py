"""Explanations (the membership reason), and what a rule depends on."""

from __future__ import annotations

from datetime import datetime

from shared.rules import parse
from tests.rules.people import TZ, affiliation, person, view

EMPLOYEE_IN_FIN = (
    'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -in ["FIN","HR"])'
)


def test_the_reason_lists_the_clauses_that_held():
    explanation = parse(EMPLOYEE_IN_FIN).explain(view())
    assert explanation.result is True
    assert explanation.summary() == (
        'affiliation.type -eq "employee" held; affiliation.organization -in ["FIN","HR"] held'
    )
    assert [c.position for c in explanation.clauses] == [26, 63]


def test_a_failed_rule_shows_which_clauses_failed():
    who = person(affiliations=[affiliation(organization="IT")])
    explanation = parse(EMPLOYEE_IN_FIN).explain(view(who))
    assert explanation.result is False
    assert [(c.text, c.held) for c in explanation.clauses] == [
        ('affiliation.type -eq "employee"', True),
        ('affiliation.organization -in ["FIN","HR"]', False),
    ]
    assert explanation.summary() == 'affiliation.organization -in ["FIN","HR"] did not hold'


def test_the_witness_affiliation_is_the_one_explained():
    who = person(affiliations=[
        affiliation(key="a", type="student", organization="FIN"),
        affiliation(key="b", type="employee", organization="HR"),
    ])
    explanation = parse(EMPLOYEE_IN_FIN).explain(view(who))
    assert explanation.result is True
    assert all(c.held for c in explanation.clauses)


def test_only_the_branch_that_decided_an_or_is_the_reason():
    rule = parse('person.givenName -eq "Grace" -or person.familyName -eq "Lovelace" -or person.id -eq "P0000001"')
    explanation = rule.explain(view())
    assert [c.held for c in explanation.clauses] == [False, True, True]
    assert explanation.summary() == 'person.familyName -eq "Lovelace" held'


def test_a_negated_clause_is_a_reason_by_not_holding():
    explanation = parse('person.status -eq "active" -and -not person.attributes.campus -eq "South"').explain(view())
    assert explanation.result is True
    assert explanation.summary() == (
        'person.status -eq "active" held; person.attributes.campus -eq "South" did not hold'
    )


def test_explaining_without_active_affiliations():
    later = view(at=datetime(2027, 1, 1, tzinfo=TZ))
    explanation = parse(EMPLOYEE_IN_FIN).explain(later)
    assert explanation.result is False
    assert not any(c.held for c in explanation.clauses)
    assert parse("person.affiliations -all (affiliation.type -eq \"employee\")").explain(later).result is True


def test_all_explains_the_first_affiliation_that_fails_it():
    who = person(affiliations=[affiliation(key="a"), affiliation(key="b", type="student")])
    explanation = parse('person.affiliations -all (affiliation.type -eq "employee")').explain(view(who))
    assert explanation.result is False
    assert explanation.summary() == 'affiliation.type -eq "employee" did not hold'


def test_clause_text_is_as_written():
    explanation = parse('person.givenName   -EQ  "ADA"').explain(view())
    assert explanation.clauses[0].text == 'person.givenName   -EQ  "ADA"'


def test_groups_are_the_member_of_references():
    rule = parse(
        'person.memberOf -any (_ -in ["FIN-employees", "hr-staff"]) '
        '-or -not person.memberOf -any (group.objectId -eq "Contractors")'
    )
    assert rule.groups() == {"fin-employees", "hr-staff", "contractors"}
    assert parse('person.givenName -eq "fin-employees"').groups() == set()


def test_properties_are_normalised_paths():
    rule = parse(
        'person.affiliations -any (affiliation.Type -eq "employee" -and affiliation.attributes.FTE -gt 0.5) '
        '-and person.GIVENNAME -ne null -and person.emails -any (_ -endsWith "@x") -and person.attributes.Grade -gt 1'
    )
    assert rule.properties() == {
        "person.affiliations", "person.affiliations.type", "person.affiliations.attributes.fte",
        "person.givenName", "person.emails", "person.attributes.grade",
    }
