"""Roles are one list: every route and page names roles of the `Role` enum, the Entra app
registration declares exactly them, and the role tables of the README and the documents it
links (docs/api.md, docs/console.md, docs/request-desk.md) say what the code does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import function_app  # noqa: F401  (declares every route)
from functions.http import ROUTES, RouteInfo
from shared.models.role import Role, any_of

ROOT = Path(__file__).resolve().parents[2]
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
PUBLIC = "public"
DOCS = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]


def test_every_route_and_page_names_roles_of_the_enum():
    assert ROUTES, "no routes declared"
    for info in ROUTES:
        assert all(isinstance(role, Role) for role in any_of(info.role)), info.name


def test_a_misspelt_role_fails_when_the_route_is_declared():
    with pytest.raises(ValueError, match="'Persons.Raed' is not a role"):
        RouteInfo("typo", "typo", ("GET",), ("Persons.Raed",), "a route with a typo")


def test_the_app_registration_declares_exactly_the_roles_of_the_code():
    declared = [r["value"] for r in json.loads((ROOT / "infra" / "entra" / "app-roles.json").read_text())]
    assert sorted(declared) == sorted(Role)


def _code_roles() -> dict[tuple[str, str], frozenset[str]]:
    """(method, path under /api) → the roles that may call it (Admin always may)."""
    table = {}
    for info in ROUTES:
        roles = PUBLIC if info.public else frozenset(any_of(info.role)) | {Role.admin}
        for method in info.methods:
            table[(method, "/" + info.route)] = roles
    return table


def _routes_of(cell: str) -> list[tuple[tuple[str, ...], str]]:
    """`GET POST /groups` · `/upcoming` → [(methods, path), …]; a group without methods takes
    the previous group's, a bare `/segment` replaces the previous path's last segment, a
    bare `?query` is the previous path again, and `/…` is a catch-all route."""
    routes: list[tuple[tuple[str, ...], str]] = []
    for group in re.findall(r"`([^`]+)`", cell):
        words = group.split()
        methods = tuple(w for w in words if w in METHODS)
        path = next((w for w in words if w.startswith("/")), routes[-1][1] if routes else "")
        path = path.split("?")[0].removeprefix("/api").rstrip("/").replace("…", "{*path}")
        if not methods and path.endswith("{*path}"):
            methods = tuple(sorted(METHODS))  # a catch-all serves every method
        if not methods:
            methods = routes[-1][0] if routes else ("GET",)
            if routes and path.count("/") == 1 and not path.startswith("/console"):
                path = routes[-1][1].rsplit("/", 1)[0] + path
            elif routes and not path.startswith("/console") and routes[-1][1].startswith("/console"):
                path = routes[-1][1].rsplit("/", 1)[0] + path
        routes.append((methods, path))
    return routes


def _roles_of(piece: str, method: str) -> str | frozenset[str]:
    """`A or B (read: C); words` → the roles for `method` (reads add C); `any`: any caller
    with a key; no role at all (`—`, `shared secret`): public, the route checks for itself."""
    piece = piece.split(";")[0].strip()
    if piece != "any" and not any(role.value in piece for role in Role):
        return PUBLIC
    base, _, read = piece.partition("(")
    roles = {r.strip() for r in base.split(" or ") if r.strip() and r.strip() != "any"}
    if read and method == "GET":
        roles |= {r.strip() for r in read.split(":", 1)[1].rstrip(")").split(" or ")}
    return frozenset(roles | {Role.admin})


def _role_table_rows() -> list[list[str]]:
    """The rows of the tables headed `| route | role |` or `| page | role |` in the README and
    the documents it links."""
    rows, inside = [], False
    lines = [line for doc in DOCS for line in ["", *(ROOT / doc).read_text(encoding="utf-8").splitlines()]]
    for line in lines:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if cells[:2] in (["route", "role"], ["page", "role"]):
            inside = True
        elif not line.startswith("|"):
            inside = False
        elif inside and cells and cells[0].startswith("`"):
            rows.append(cells)
    return rows


def _readme_roles() -> dict[tuple[str, str], str | frozenset[str]]:
    table = {}
    for cells in _role_table_rows():
        routes = _routes_of(cells[0].replace("\\|", "|"))
        pieces = cells[1].split(" · ")
        for n, (methods, path) in enumerate(routes):
            piece = pieces[n] if len(pieces) == len(routes) else cells[1]
            for method in methods:
                table[(method, path)] = _roles_of(piece, method)
    return table


def test_the_documented_role_tables_say_what_the_code_does():
    code, readme = _code_roles(), _readme_roles()
    assert len(readme) > 40, "the role tables were not found"
    unknown = sorted(set(readme) - set(code))
    assert unknown == [], f"role table rows for routes the code does not have: {unknown}"
    differ = {route: (readme[route], code[route]) for route in readme if readme[route] != code[route]}
    assert differ == {}, "documented role ≠ code role (documented, code)"


def test_every_api_route_has_a_row_in_a_role_table():
    """Console forms are described with their pages; every API operation has its own row."""
    missing = sorted(route for route in set(_code_roles()) - set(_readme_roles())
                     if not route[1].startswith("/console"))
    assert missing == []
