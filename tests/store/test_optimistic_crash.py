"""A process killed (SIGKILL) in the middle of an OptimisticUnit's commit leaves nothing of
the unit: its writes land in one SQLite transaction, never committed piecemeal."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest

from shared.store import Entity
from shared.store.optimistic import OptimisticUnit
from shared.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]

# The child computes a unit over three tables, then commits it and is killed at `point`:
# "flush" — after the first table's rows are written, the others not yet;
# "before" — in a before-commit action: every row written, the transaction not committed.
CHILD = textwrap.dedent("""
    import os, signal, sys
    from shared.store import Entity
    from shared.store.optimistic import OptimisticUnit
    from shared.store.sqlite import SqliteStore, SqliteTable

    path, point = sys.argv[1], sys.argv[2]
    store = SqliteStore(path)
    unit = OptimisticUnit(store)
    for name in ("persons", "orders", "audit"):
        view = unit.table(name)
        view.replace(Entity("p", "seed", {"v": 1}), view.get("p", "seed").etag)
        for i in range(200):
            view.insert(Entity("p", f"r{i:03}", {"name": name}))
    killed = lambda *_: os.kill(os.getpid(), signal.SIGKILL)
    if point == "flush":
        restore = SqliteTable.restore
        SqliteTable.restore = lambda self, rows, gone: (restore(self, rows, gone), killed())
    else:
        unit.before_commit(killed)
    unit.commit()
    print("survived")
""")


def _seeded(path: Path) -> dict[str, str]:
    with closing(SqliteStore(str(path))) as store:
        return {name: store.table(name).insert(Entity("p", "seed", {"v": 0})).etag
                for name in ("persons", "orders", "audit")}


@pytest.mark.parametrize("point", ["flush", "before"])
def test_a_process_killed_in_the_middle_of_commit_leaves_nothing_of_the_unit(tmp_path, point):
    path = tmp_path / "killed.db"
    seeds = _seeded(path)
    child = subprocess.run([sys.executable, "-c", CHILD, str(path), point], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert "survived" not in child.stdout

    with closing(SqliteStore(str(path))) as store:
        assert store.connection().execute("PRAGMA integrity_check").fetchone() == ("ok",)
        for name, etag in seeds.items():
            rows = list(store.table(name).query("p"))
            assert [(e.row_key, e.properties, e.etag) for e in rows] == [("seed", {"v": 0}, etag)], name
        unit = OptimisticUnit(store)  # the store takes the next unit as if nothing happened
        view = unit.table("persons")
        view.replace(Entity("p", "seed", {"v": 2}), view.get("p", "seed").etag)
        unit.commit()
        assert store.table("persons").get("p", "seed").properties == {"v": 2}
