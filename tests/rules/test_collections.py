"""-any/-all over the affiliations active at the instant, and over emails, groups and sources."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.rules.people import TZ, affiliation, holds, person

EMPLOYEE_IN_FIN = (
    'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -in ["FIN","HR"])'
)


def test_an_employee_whose_job_ends_on_the_30th_is_seen_until_the_end_of_that_day():
    who = person()  # employee in FIN, end 2026-11-30 (a date: inclusive)
    assert holds(EMPLOYEE_IN_FIN, who, at=datetime(2026, 11, 30, 23, 59, tzinfo=TZ))
    assert holds('person.status -eq "active"', who, at=datetime(2026, 11, 30, 23, 59, tzinfo=TZ))
    assert not holds(EMPLOYEE_IN_FIN, who, at=datetime(2026, 12, 1, 0, 0, tzinfo=TZ))
    assert holds('person.status -eq "inactive"', who, at=datetime(2026, 12, 1, 0, 0, tzinfo=TZ))


def test_a_job_that_starts_tomorrow_is_not_seen_today():
    who = person(affiliations=[affiliation(start="2026-11-03", end=None)])
    assert not holds(EMPLOYEE_IN_FIN, who)
    assert holds(EMPLOYEE_IN_FIN, who, at=datetime(2026, 11, 3, 0, 0, tzinfo=TZ))


def test_an_affiliation_ending_at_an_instant_is_over_at_that_instant():
    who = person(affiliations=[affiliation(end="2026-11-30T17:00:00+01:00")])
    assert holds(EMPLOYEE_IN_FIN, who, at=datetime(2026, 11, 30, 16, 59, tzinfo=TZ))
    assert not holds(EMPLOYEE_IN_FIN, who, at=datetime(2026, 11, 30, 17, 0, tzinfo=TZ))


def test_one_affiliation_must_satisfy_the_whole_any():
    who = person(affiliations=[
        affiliation(key="a", type="employee", organization="HR"),
        affiliation(key="b", type="student", organization="FIN"),
    ])
    assert holds('person.affiliations -any (affiliation.type -eq "employee")', who)
    assert holds('person.affiliations -any (affiliation.organization -eq "FIN")', who)
    assert not holds(
        'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -eq "FIN")', who)


def test_all_needs_every_active_affiliation_and_ended_ones_do_not_count():
    both = person(affiliations=[
        affiliation(key="a", type="employee"),
        affiliation(key="b", type="student", end="2026-06-30"),  # over at the instant
    ])
    assert holds('person.affiliations -all (affiliation.type -eq "employee")', both)
    both.affiliations[1].end = None
    assert not holds('person.affiliations -all (affiliation.type -eq "employee")', both)


def test_all_over_no_active_affiliation_holds_as_in_entra():
    gone = person(affiliations=[affiliation(end="2025-01-31")])
    assert holds('person.affiliations -all (affiliation.type -eq "employee")', gone)
    assert not holds('person.affiliations -any (affiliation.type -eq "employee")', gone)


def test_affiliation_dates_are_days_in_the_institutions_time_zone():
    # 23:30 UTC on the 30th is 00:30 on 1 December in Brussels.
    who = person(affiliations=[affiliation(start="2026-01-01T08:00:00Z", end="2026-11-30T23:30:00Z")])
    assert holds('person.affiliations -any (affiliation.end -eq "2026-12-01")', who)
    assert holds('person.affiliations -any (affiliation.start -eq 2026-01-01)', who)
    assert holds('person.affiliations -any (affiliation.end -le "2026-12-31")', who)


def test_an_open_ended_affiliation_has_a_null_end():
    who = person(affiliations=[affiliation(end=None)])
    assert holds("person.affiliations -any (affiliation.end -eq null)", who)
    assert not holds('person.affiliations -any (affiliation.end -lt "2100-01-01")', who)


def test_affiliation_source_and_title():
    assert holds('person.affiliations -any (affiliation.source -eq "HR" -and affiliation.title -match "^anal")')


@pytest.mark.parametrize(("rule", "expected"), [
    ('person.emails -any (_ -endsWith "@lab.example.org")', True),
    ('person.emails -any (_ -contains "@EXAMPLE.EDU")', True),
    ('person.emails -all (_ -contains "example")', True),
    ('person.emails -all (_ -endsWith ".edu")', False),
    ('person.emails -any (_ -eq "nobody@example.edu")', False),
    ('person.sources -any (_ -eq "HR")', True),
    ('person.sources -any (_ -in ["sis", "lms"])', False),
])
def test_string_collections_are_tested_with_underscore(rule, expected):
    assert holds(rule) is expected


def test_member_of_tests_the_groups_the_person_is_in():
    groups = {"fin-employees", "all-staff"}
    assert holds('person.memberOf -any (_ -eq "FIN-Employees")', member_of=groups)
    assert holds('person.memberOf -any (_ -in ["x", "all-staff"])', member_of=groups)
    assert not holds('person.memberOf -any (_ -eq "students")', member_of=groups)
    assert holds("person.memberOf -any (group.objectId -in ['all-staff'])", member_of=groups)  # Entra's form
    assert not holds('person.memberOf -any (_ -eq "fin-employees")')


def test_sources_include_those_that_stamped_the_person():
    who = person(identifiers=[], sources={"sis": {"as_of": "2026-01-01T00:00:00Z", "applied_at": "2026-01-01T00:00:00Z"}})
    assert holds('person.sources -any (_ -eq "sis")', who)
    assert not holds('person.sources -any (_ -eq "hr")', who)
