"""Fixtures of the TableStore contract suite: one SQLite store and one Azurite store."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.store.azure_tables import AzureTablesStore
from shared.store.port import Table, TableStore
from shared.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
AZURITE = ROOT / "node_modules" / ".bin" / "azurite-table"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def _free_port() -> int:
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


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """Connection string of an in-memory Azurite table emulator, started for the session."""
    if not AZURITE.exists():
        pytest.fail(f"Azurite is not installed at {AZURITE} (run `npm ci`)")
    port = _free_port()
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
            pytest.fail(f"Azurite did not start on port {port}: {output}")
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


@pytest.fixture(params=["sqlite", pytest.param("azurite", marks=pytest.mark.azurite)])
def store(request, tmp_path) -> Iterator[TableStore]:
    """Each adapter in turn."""
    if request.param == "sqlite":
        opened: TableStore = SqliteStore(str(tmp_path / "store.db"))
    else:
        opened = AzureTablesStore(connection_string=request.getfixturevalue("azurite"))
    yield opened
    opened.close()


@pytest.fixture
def table(store) -> Table:
    """A fresh, empty table."""
    return store.table("t" + uuid.uuid4().hex[:12])
