"""`make run` installs only requirements-local.txt: the app and devhost must start without
the test, lint and benchmark tools of requirements-dev.txt."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r"):
            names.add(re.split(r"[=<>!~\[ ]", line)[0].lower())
    return names


def test_running_needs_no_test_tools() -> None:
    dev_only = _names(ROOT / "requirements-dev.txt")
    assert {"pytest", "playwright", "checkov"} <= dev_only
    assert not dev_only & _names(ROOT / "requirements-local.txt")
    blocked = sorted(name.replace("-", "_") for name in dev_only)
    script = f"""
import sys, importlib.abc
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0].lower() in BLOCKED:
            raise ImportError("dev-only package imported while running: " + name)
sys.meta_path.insert(0, Block())
import devhost.__main__, devhost.host, function_app
function_app.app.get_functions()
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
