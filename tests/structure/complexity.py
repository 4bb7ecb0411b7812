"""The complexity gate (docs/development.md, "Small functions"): no function in shared/ above
cyclomatic complexity 15, measured with radon.

`python -m tests.structure.complexity [paths…]` lists the functions above the limit and exits
1 when there is any (`make lint`); `over_limit()` is what tests/structure/test_layers.py reads.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from radon.complexity import cc_visit
from radon.visitors import Function

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 15


@dataclass(frozen=True)
class Measured:
    path: str
    name: str
    line: int
    complexity: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.name} — complexity {self.complexity} (limit {LIMIT})"


def _functions(blocks: list, path: str, prefix: str = "") -> Iterator[Measured]:
    for block in blocks:
        if not isinstance(block, Function):
            continue
        name = f"{block.classname}.{block.name}" if block.classname else prefix + block.name
        yield Measured(path, name, block.lineno, block.complexity)
        yield from _functions(block.closures, path, f"{name}.")


def measure(*paths: str) -> list[Measured]:
    """Every function and method (closures too) under `paths`, relative to the repository."""
    found: list[Measured] = []
    for top in paths:
        for file in sorted((ROOT / top).rglob("*.py")):
            relative = file.relative_to(ROOT).as_posix()
            found += _functions(cc_visit(file.read_text(encoding="utf-8")), relative)
    return found


def over_limit(*paths: str) -> list[Measured]:
    """The functions above LIMIT, most complex first."""
    return sorted((m for m in measure(*paths or ("shared",)) if m.complexity > LIMIT),
                  key=lambda m: (-m.complexity, m.path, m.line))


def main(argv: list[str]) -> int:
    offenders = over_limit(*argv)
    for measured in offenders:
        print(measured)
    largest = max((m.complexity for m in measure(*argv or ("shared",))), default=0)
    print(f"{len(offenders)} function(s) above complexity {LIMIT}; the largest is {largest}")
    return 1 if offenders else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
