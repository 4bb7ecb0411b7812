"""Item 5 of issue 11: control characters, line breaks and attribute names."""

from __future__ import annotations

import json

import pytest

from tests.factories import hr_update
from tests.hardening.calls import call, payload, problem_fields


def _person(**over):
    return call("persons_register", "POST", key="hr-key", body=hr_update(**over))


@pytest.mark.parametrize(("over", "field"), [
    ({"names": {"given": "A\x00da", "family": "Lovelace"}}, "names.given"),
    ({"names": {"given": "Ada", "family": "Love\x07lace"}}, "names.family"),
    ({"names": {"given": "Ada", "family": "L", "preferred": "A\x1bda"}}, "names.preferred"),
    ({"source_id": "E\x001001"}, "source_id"),
    ({"source": "h\x00r"}, "source"),
    ({"attributes": {"grade": "A\x00"}}, "attributes"),
    ({"attributes": {"gr\x00ade": "A"}}, "attributes"),
    ({"emails": [{"address": "ada@example.edu", "type": "wo\x00rk"}]}, "emails[0].type"),
    ({"affiliations": [{"key": "j\x00", "type": "employee", "organization": "FIN", "start": "2024-01-01"}]},
     "affiliations[0].key"),
    ({"affiliations": [{"key": "j", "type": "employee", "organization": "F\x7fIN", "start": "2024-01-01"}]},
     "affiliations[0].organization"),
    ({"affiliations": [{"key": "j", "type": "employee", "organization": "FIN", "title": "A\x85B",
                        "start": "2024-01-01"}]}, "affiliations[0].title"),
])
def test_nul_and_control_characters_are_refused_naming_the_field(rt, over, field):
    response = _person(**over)

    assert response.status_code == 422
    assert field in problem_fields(response)
    assert payload(call("persons_search", key="reader-key", params={"source": "hr", "source_id": "E1001"}))[
        "items"] == []


@pytest.mark.parametrize(("over", "field"), [
    ({"names": {"given": "Ada\r\nBcc: x@evil.example", "family": "Lovelace"}}, "names.given"),
    ({"names": {"given": "Ada", "family": "Love\nlace"}}, "names.family"),
    ({"affiliations": [{"key": "j", "type": "employee", "organization": "FIN", "title": "Ana\u2028lyst",
                        "start": "2024-01-01"}]}, "affiliations[0].title"),
])
def test_line_breaks_are_refused_in_one_line_fields(rt, over, field):
    response = _person(**over)

    assert response.status_code == 422
    assert problem_fields(response) == [field]


def test_group_names_are_one_line_and_descriptions_may_have_lines(rt):
    bad = call("groups_create", "POST", body={"id": "g1", "name": "Fin\nance", "kind": "static"})
    nul = call("groups_create", "POST", body={"id": "g1", "name": "Finance", "kind": "static",
                                              "description": "a\x00b"})
    good = call("groups_create", "POST", body={"id": "g1", "name": "Finance", "kind": "static",
                                               "description": "line one\nline two"})

    assert (bad.status_code, problem_fields(bad)) == (422, ["name"])
    assert (nul.status_code, problem_fields(nul)) == (422, ["description"])
    assert good.status_code == 201


def test_multi_line_fields_keep_their_line_breaks(rt):
    target = call("targets_create", "POST", body={"id": "wiki", "name": "Wiki"})
    assert target.status_code == 201
    response = call("targets_create", "POST", body={"id": "wiki2", "name": "Wi\tki"})
    assert (response.status_code, problem_fields(response)) == (422, ["name"])


@pytest.mark.parametrize("name", ["a" * 129, "with space", "-leading", ".leading", "ünïcode", ""])
def test_attribute_names_are_bounded_and_follow_the_pattern(rt, name):
    response = _person(attributes={name: "x"})

    assert response.status_code == 422
    assert problem_fields(response) == ["attributes"]


@pytest.mark.parametrize("name", ["a" * 128, "costCenter", "cost_center", "cost-center", "hr.grade", "2fa"])
def test_attribute_names_within_the_pattern_are_accepted(rt, name):
    assert _person(attributes={name: "x"}).status_code == 201


def test_control_characters_in_a_query_parameter_are_refused_naming_it(rt):
    response = call("persons_search", key="reader-key", params={"q": "ada\x00"})

    assert (response.status_code, problem_fields(response)) == (422, ["q"])


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("route", ["persons_register", "persons_bulk"])
def test_nan_and_infinity_are_not_json_and_are_refused_before_anything_is_written(rt, route, constant):
    body = json.dumps(hr_update(attributes={"grade": 1.5})).replace("1.5", constant)
    raw = (body if route == "persons_register" else f"[{body}]").encode()

    response = call(route, "POST", key="hr-key", raw=raw)

    assert response.status_code == 400
    assert f"{constant.lstrip('-')}" in payload(response)["detail"]
    assert payload(call("persons_search", key="reader-key", params={"source": "hr", "source_id": "E1001"}))[
        "items"] == []
