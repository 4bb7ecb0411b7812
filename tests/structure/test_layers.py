"""The import contract and the complexity gate, in the normal test run (`make lint` runs the
same checks): layers point one way, routes reach the store only through services, shared/
never imports functions/ or azure.functions, connectors never import services; and no
function in shared/ grows above complexity 15."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from tests.structure.complexity import LIMIT, over_limit

ROOT = Path(__file__).resolve().parents[2]
def test_the_import_contract_is_kept():
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                               "sys.exit(lint_imports_command())", "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    kept = re.search(r"Contracts: (\d+) kept, 0 broken", run.stdout)
    assert kept and int(kept.group(1)) >= 4, run.stdout[-3000:]


def test_shared_never_imports_azure_functions():
    offenders = []
    for path in (ROOT / "shared").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.startswith("azure.functions")]
    assert offenders == []


def test_no_function_in_shared_is_above_the_complexity_limit():
    found = {f"{m.path} {m.name}": m.complexity for m in over_limit("shared")}
    assert found == {}, f"above complexity {LIMIT}: {found} — split them (docs/development.md)"
