"""Functions route templates: parameters, optional parts, defaults, constraints, catch-alls."""

from __future__ import annotations

import pytest

from devhost.routes import RouteTemplate, RouteTemplateError


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("persons/{id}", "persons/p-1", {"id": "p-1"}),
        ("persons/{id}", "PERSONS/p-1", {"id": "p-1"}),  # literals ignore case
        ("persons/{id}", "persons/a%2Fb%20c", {"id": "a/b c"}),  # values are decoded
        ("persons/{id}", "persons/p-1/", {"id": "p-1"}),  # one trailing slash is ignored
        ("persons/{id}", "persons", None),
        ("persons/{id}", "persons/a/b", None),
        ("persons/{id}/groups", "persons/x/groups", {"id": "x"}),
        ("persons/{id}/groups", "persons//groups", None),
        ("items/{n:int}", "items/42", {"n": "42"}),
        ("items/{n:int}", "items/-7", {"n": "-7"}),
        ("items/{n:int}", "items/x", None),
        ("items/{n:int}", "items/4294967296", None),  # beyond Int32
        ("items/{n:long}", "items/4294967296", {"n": "4294967296"}),
        ("names/{s:alpha}", "names/Abc", {"s": "Abc"}),
        ("names/{s:alpha}", "names/ab1", None),
        (
            "g/{id:guid}",
            "g/2f1e3f0a-6a8e-4d7c-9d2e-9b1f8a7c6d5e",
            {"id": "2f1e3f0a-6a8e-4d7c-9d2e-9b1f8a7c6d5e"},
        ),
        ("g/{id:guid}", "g/nope", None),
        ("b/{flag:bool}", "b/True", {"flag": "True"}),
        ("b/{flag:bool}", "b/yes", None),
        ("n/{x:int:min(1):max(9)}", "n/5", {"x": "5"}),
        ("n/{x:int:min(1):max(9)}", "n/10", None),
        ("n/{x:range(1,3)}", "n/0", None),
        ("s/{x:minlength(2):maxlength(3)}", "s/abcd", None),
        ("s/{x:length(2)}", "s/ab", {"x": "ab"}),
        (r"r/{ssn:regex(^\d{{3}}-\d{{2}}$)}", "r/123-45", {"ssn": "123-45"}),
        (r"r/{ssn:regex(^\d{{3}}-\d{{2}}$)}", "r/1234-5", None),
        ("r/{code:regex(^[a-z]+:[0-9]+$)}", "r/ab:12", {"code": "ab:12"}),
        ("opt/{id?}", "opt", {}),
        ("opt/{id?}", "opt/3", {"id": "3"}),
        ("opt/{id:int?}", "opt/x", None),
        ("d/{page=1}", "d", {"page": "1"}),
        ("d/{page=1}", "d/4", {"page": "4"}),
        ("files/{*path}", "files/a/b%20c.txt", {"path": "a/b c.txt"}),
        ("files/{*path}", "files", {}),
        ("files/{**path}", "files/x", {"path": "x"}),
        ("f/{name}.{ext}", "f/report.final.pdf", {"name": "report.final", "ext": "pdf"}),
        ("f/{name}.{ext?}", "f/report", {"name": "report"}),
        ("f/{name}.{ext?}", "f/a.b", {"name": "a", "ext": "b"}),
        ("f/{x:file}", "f/a.txt", {"x": "a.txt"}),
        ("f/{x:nonfile}", "f/a.txt", None),
        ("", "", {}),
        ("", "x", None),
        ("a/b", "a/b/c", None),
    ],
)
def test_match(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert RouteTemplate(template).match(path) == expected


@pytest.mark.parametrize(
    "template",
    [
        "a/{*rest}/b",  # catch-all not last
        "{a}{b}",  # no literal between parameters
        "x/{a:nope}",  # unknown constraint
        "x/{a:min(z)}",
        "{a",
        "a}",
        "{x?}.y",  # optional not last in its segment
        "{a}/{A}",  # the same name twice
        "a//b",
        "x/{}",
        "x/{*path?}",
        "x/{a:regex(()}",
    ],
)
def test_refused(template: str) -> None:
    with pytest.raises(RouteTemplateError):
        RouteTemplate(template)


def test_precedence_prefers_literals_then_constraints_then_catch_all() -> None:
    templates = ["things/{*rest}", "things/{id}", "things/{id:int}", "things/special"]
    ordered = sorted((RouteTemplate(t) for t in templates), key=lambda t: t.precedence)
    assert [t.template for t in ordered] == [
        "things/special",
        "things/{id:int}",
        "things/{id}",
        "things/{*rest}",
    ]
