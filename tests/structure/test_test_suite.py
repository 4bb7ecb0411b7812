"""The suite's own shape: conftest files hold fixtures only, and nothing imports a conftest
(helpers live in plain modules: tests/factories.py, tests/helpers/)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _imported_modules(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def _is_fixture(node: ast.FunctionDef) -> bool:
    def named(decorator: ast.expr) -> str:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        return ast.unparse(target)

    return any(named(d) in {"pytest.fixture", "fixture"} for d in node.decorator_list)


def test_no_module_imports_a_conftest():
    offenders = [
        f"{path.relative_to(TESTS)} imports {name}"
        for path in TESTS.rglob("*.py")
        for name in _imported_modules(ast.parse(path.read_text(encoding="utf-8")))
        if name.split(".")[-1] == "conftest" or ".conftest." in name
    ]
    assert offenders == []


def test_conftest_files_define_fixtures_only():
    offenders = []
    for path in TESTS.rglob("conftest.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and not _is_fixture(node):
                offenders.append(f"{path.relative_to(TESTS)}: function {node.name}")
            elif isinstance(node, ast.ClassDef):
                offenders.append(f"{path.relative_to(TESTS)}: class {node.name}")
    assert offenders == []
