"""Membership rules: Microsoft Entra's dynamic membership syntax, over Roster's persons.

Grammar (operators, keywords and property names are case-insensitive)::

    rule       := or
    or         := and ( -or and )*
    and        := not ( -and not )*
    not        := -not not | ( rule ) | condition
    condition  := property -operator value
                | collection -any ( inner ) | collection -all ( inner )
                | collection -any inner-condition          # Entra's form without parentheses
    value      := "text" | 'text' | number | true | false | null | 2026-11-30 | [ value, ... ]

Precedence as in Entra: -not binds tighter than -and, -and tighter than -or, so
``a -or b -and c`` is ``a -or (b -and c)``. Operators: -eq -ne -startsWith -notStartsWith
-endsWith -notEndsWith -contains -notContains -match -notMatch -in -notIn -lt -le -gt -ge.
Dashes pasted from documents (–, —) are read as -. Text is in double quotes; a quote inside
is written \\" or `" (Entra) or "" ; single-quoted text doubles a single quote ('').

Properties, seen at the evaluation instant: person.id givenName familyName displayName
(preferred or given name, a space, family name) email (the first address) emails birthDate
status ("active" when an affiliation is active, else "inactive") sources (sources that know
the person) memberOf (group ids, for composite groups) attributes.<name>; and
person.affiliations, the affiliations *active at the instant* only, each with
affiliation.type organization title source start end attributes.<name>.
Lists are tested with -any/-all: ``person.affiliations -any (affiliation.type -eq
"employee" -and affiliation.organization -in ["FIN","HR"])``, ``person.emails -any
(_ -endsWith "@example.edu")``. person.memberOf is tested only with ``_ -eq "group-id"`` /
``_ -in [...]`` (Entra's ``group.objectId`` is accepted for ``_``), so that the groups a
rule depends on are known (`Rule.groups()`, casefolded, for refusing cycles). -any over an
empty list is false and -all true (Entra's ``-all (... -eq null)`` idiom relies on it).

Comparisons: text is compared case-insensitively (casefolded); -match is a Python regular
expression searched anywhere in the text, ignoring case. null is only used with -eq/-ne; a
missing value is null and satisfies no positive operator, so every negative one (-ne,
-notIn, -notStartsWith, -notContains, -notMatch…) holds for it. Attributes: a number in a
rule compares numerically with a number attribute or a text attribute that reads as one
("3", "-2.5"); text compares with the attribute's text (a number 3 is "3", true is "true");
true/false compare with true/false or the text "true"/"false". Text props (person.id…)
need text in quotes; affiliation.type and person.status values are checked when saved.

Dates: birthDate, affiliation.start and affiliation.end are calendar days. A date stays
as it is; an instant becomes its day in the institution's time zone (ROSTER_TIMEZONE). The
day is seen as ISO 8601 text, YYYY-MM-DD, and a rule compares it with a date written the
same way ("2000-01-01" or 2000-01-01); -eq/-ne/-in/-lt/-le/-gt/-ge on a date need a valid
date, so ordering the text orders the days. ``affiliation.end -eq null`` is open-ended.
Whether an affiliation is active is exact: a date start begins at 00:00 and a date end
includes the whole day in that time zone; an instant start or end is exact (end exclusive).

Limits: a rule is at most MAX_RULE_LENGTH = 3,072 characters (Entra's limit), refused before
it is read; nesting of parentheses, -not and -any/-all is at most MAX_DEPTH = 20. Not
supported: operators without their dash, Entra's system.now/-plus, `Direct Reports for`,
collection operators without -any/-all, nested lists.

A rule is parsed and checked once (`parse`, RuleError with message, position, line and
column), compiled into Python closures, and evaluated on a `PersonView`. `RuleIndex` keeps
many rules so that a person meets only those that can match.
"""

from shared.rules.errors import RuleError, explain_error
from shared.rules.index import RuleIndex
from shared.rules.parser import MAX_DEPTH, MAX_RULE_LENGTH
from shared.rules.rule import ClauseResult, Explanation, Rule, parse
from shared.rules.view import PersonView

__all__ = [
    "MAX_DEPTH",
    "MAX_RULE_LENGTH",
    "ClauseResult",
    "Explanation",
    "PersonView",
    "Rule",
    "RuleError",
    "RuleIndex",
    "explain_error",
    "parse",
]
