"""Every operator, its negation, and case-insensitivity, on Ada Lovelace (grade 5, campus North)."""

from __future__ import annotations

import pytest

from tests.rules.people import affiliation, holds, person

ADA = [
    # -eq / -ne: text compares case-insensitively
    ('person.givenName -eq "ada"', True),
    ('person.givenName -eq "Grace"', False),
    ('person.givenName -ne "Grace"', True),
    ('person.givenName -ne "ADA"', False),
    ('person.id -eq "p0000001"', True),
    ('person.displayName -eq "ADA LOVELACE"', True),
    ('person.email -eq "ada.lovelace@example.edu"', True),
    ('person.status -eq "Active"', True),
    # -startsWith / -endsWith / -contains and their negations
    ('person.familyName -startsWith "LOVE"', True),
    ('person.familyName -startsWith "lace"', False),
    ('person.familyName -notStartsWith "love"', False),
    ('person.familyName -notStartsWith "lace"', True),
    ('person.familyName -endsWith "LACE"', True),
    ('person.familyName -endsWith "love"', False),
    ('person.familyName -notEndsWith "lace"', False),
    ('person.familyName -notEndsWith "love"', True),
    ('person.email -contains "@EXAMPLE.edu"', True),
    ('person.email -contains "@example.org"', False),
    ('person.email -notContains "@example.edu"', False),
    ('person.email -notContains "@example.org"', True),
    # -match / -notMatch: a regular expression searched anywhere, ignoring case
    (r'person.displayName -match "^ada\s+l"', True),
    ('person.displayName -match "vel"', True),
    ('person.displayName -match "^love"', False),
    ('person.displayName -notMatch "^love"', True),
    ('person.displayName -notMatch "LOVE"', False),
    # -in / -notIn
    ('person.givenName -in ["Grace", "ADA"]', True),
    ('person.givenName -in ["Grace", "Barbara"]', False),
    ('person.givenName -notIn ["Grace", "ADA"]', False),
    ('person.givenName -notIn ["Grace"]', True),
    # -lt / -le / -gt / -ge on text and on dates (ISO days)
    ('person.givenName -lt "b"', True),
    ('person.givenName -gt "B"', False),
    ('person.birthDate -lt "2000-01-01"', True),
    ('person.birthDate -lt "1990-12-10"', False),
    ('person.birthDate -le "1990-12-10"', True),
    ('person.birthDate -gt "1990-12-09"', True),
    ('person.birthDate -ge "1990-12-11"', False),
    ('person.birthDate -eq 1990-12-10', True),
    ('person.birthDate -in ["1990-12-10", "1991-01-01"]', True),
    ('person.birthDate -startsWith "1990-"', True),
    # operators and property names are case-insensitive too, as in Entra
    ('person.GivenName -EQ "ADA"', True),
    ('Person.givenname -StartsWith "a"', True),
    ('PERSON.FAMILYNAME -NOTIN ["x"]', True),
    ('person.affiliations -ANY (Affiliation.Organization -eq "fin")', True),
]


@pytest.mark.parametrize(("rule", "expected"), ADA)
def test_each_operator_on_ada(rule, expected):
    assert holds(rule) is expected


ATTRIBUTES = [
    # grade is the number 5
    ("person.attributes.grade -gt 3", True),
    ("person.attributes.grade -gt 5", False),
    ("person.attributes.grade -ge 5", True),
    ("person.attributes.grade -lt 5", False),
    ("person.attributes.grade -le 5.0", True),
    ("person.attributes.grade -eq 5", True),
    ("person.attributes.grade -ne 5", False),
    ('person.attributes.grade -eq "5"', True),
    ("person.attributes.grade -in [4, 5]", True),
    ("person.attributes.grade -notIn [4, 6]", True),
    ("person.attributes.grade -gt -1", True),
    # costCenter is the text "4100": it reads as a number for numeric comparisons
    ("person.attributes.costCenter -gt 4000", True),
    ("person.attributes.costCenter -eq 4100", True),
    ('person.attributes.costcenter -startsWith "41"', True),
    # campus is text
    ('person.attributes.campus -eq "north"', True),
    ('person.attributes.Campus -in ["South", "NORTH"]', True),
    ("person.attributes.campus -gt 3", False),
    # remote is true
    ("person.attributes.remote -eq true", True),
    ("person.attributes.remote -eq false", False),
    ("person.attributes.remote -ne true", False),
    ('person.attributes.remote -eq "TRUE"', True),
]


@pytest.mark.parametrize(("rule", "expected"), ATTRIBUTES)
def test_attributes_compare_as_numbers_text_or_booleans(rule, expected):
    assert holds(rule) is expected


MISSING = [
    ("person.attributes.missing -eq null", True),
    ("person.attributes.missing -ne null", False),
    ("person.attributes.grade -ne null", True),
    ("person.attributes.grade -eq null", False),
    ('person.attributes.missing -eq "x"', False),
    ('person.attributes.missing -ne "x"', True),
    ('person.attributes.missing -contains "x"', False),
    ('person.attributes.missing -notContains "x"', True),
    ('person.attributes.missing -notStartsWith "x"', True),
    ('person.attributes.missing -notMatch "x"', True),
    ('person.attributes.missing -in ["x"]', False),
    ('person.attributes.missing -notIn ["x"]', True),
    ("person.attributes.missing -gt 3", False),
    ("person.attributes.missing -le 3", False),
]


@pytest.mark.parametrize(("rule", "expected"), MISSING)
def test_a_missing_attribute_is_null_and_only_negative_operators_hold_for_it(rule, expected):
    assert holds(rule) is expected


def test_an_attribute_set_to_null_is_null():
    who = person(attributes={"grade": None})
    assert holds("person.attributes.grade -eq null", who)


def test_a_person_without_birth_date_has_a_null_birth_date():
    assert holds("person.birthDate -ne null")
    assert holds("person.birthDate -eq null", person(birth_date=None))
    assert not holds('person.birthDate -lt "2100-01-01"', person(birth_date=None))


def test_email_is_the_first_address_and_null_without_one():
    assert holds('person.email -endsWith "@example.edu"')
    assert holds("person.email -eq null", person(emails=[]))


def test_display_name_uses_the_preferred_name():
    who = person(names={"given": "Augusta", "preferred": "Ada", "family": "King"})
    assert holds('person.displayName -eq "Ada King"', who)
    assert holds('person.givenName -eq "Augusta"', who)


def test_a_person_without_active_affiliation_is_inactive():
    who = person(affiliations=[affiliation(end="2025-12-31")])
    assert holds('person.status -eq "inactive"', who)
    assert not holds('person.status -eq "active"', who)


def test_affiliation_attributes_are_read_inside_any():
    assert holds("person.affiliations -any (affiliation.attributes.fte -lt 1)")
    assert holds("person.affiliations -any (affiliation.attributes.FTE -eq 0.8)")
    assert holds("person.affiliations -any (affiliation.attributes.other -eq null)")


def test_affiliation_title_null_when_absent():
    who = person(affiliations=[affiliation(title=None)])
    assert holds("person.affiliations -any (affiliation.title -eq null)", who)
    assert not holds("person.affiliations -any (affiliation.title -eq null)")
