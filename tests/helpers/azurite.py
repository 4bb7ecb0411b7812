"""Azurite's table emulator, started in memory on a free port for as long as a block runs."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AZURITE = ROOT / "node_modules" / ".bin" / "azurite-table"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


class AzuriteUnavailable(RuntimeError):
    """Azurite is not installed or did not start (the message says which)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


@contextmanager
def azurite_tables() -> Iterator[str]:
    """The connection string of a running in-memory Azurite table emulator."""
    if not AZURITE.exists():
        raise AzuriteUnavailable(f"Azurite is not installed at {AZURITE} (run `npm ci`)")
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [str(AZURITE), "--tableHost", "127.0.0.1", "--tablePort", str(port),
         "--inMemoryPersistence", "--skipApiVersionCheck", "--silent"],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    try:
        if not _wait_for_port(port, proc, timeout=30):
            log.seek(0)
            output = log.read().decode(errors="replace")[-2000:]
            raise AzuriteUnavailable(f"Azurite did not start on port {port}: {output}")
        yield (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};"
            f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
