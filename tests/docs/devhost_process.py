"""`python -m devhost` as a subprocess with the sample settings, for the documentation tests."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def sample_devhost(tmp_path: Path):
    """Yield the URL of devhost started exactly as `make run` would, on a free port."""
    shutil.copy(ROOT / "local.settings.sample.json", tmp_path / "local.settings.json")
    log = tmp_path / "devhost.out"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devhost", "--port", "0", "--settings", str(tmp_path / "local.settings.json"),
             "--data-dir", str(tmp_path / "data")],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        yield _wait_for_url(proc, log)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_for_url(proc: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if m := re.search(r"Roster devhost on (http://\S+)", log.read_text()):
            return m.group(1)
        time.sleep(0.05)
    raise AssertionError(log.read_text()[-2000:])
