"""The TableStore port, its adapters, and `open_store` to pick one from `ROSTER_STORE`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from .documents import pack_json, unpack_json
from .port import (
    BatchFailed,
    BatchTooLarge,
    Entity,
    EntityExists,
    EntityNotFound,
    ETagMismatch,
    InvalidEntity,
    Op,
    PropertyTooLarge,
    StoreError,
    Table,
    TableStore,
    utc,
)

__all__ = [
    "BatchFailed",
    "BatchTooLarge",
    "Entity",
    "EntityExists",
    "EntityNotFound",
    "ETagMismatch",
    "InvalidEntity",
    "Op",
    "PropertyTooLarge",
    "StoreError",
    "Table",
    "TableStore",
    "open_store",
    "pack_json",
    "unpack_json",
    "utc",
]


def open_store(url: str) -> TableStore:
    """`sqlite:///rel/path` or `sqlite:////abs/path`, an Azure Tables connection string
    (Azurite included), or `https://<account>.table.core.windows.net` (DefaultAzureCredential)."""
    url = (url or "").strip()
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path or path.startswith(":memory:"):
            raise ValueError("ROSTER_STORE: sqlite:/// needs a file path")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        from .sqlite import SqliteStore

        return SqliteStore(path)
    if any(
        k in url.lower() for k in ("accountname=", "tableendpoint=", "usedevelopmentstorage=true")
    ):
        from .azure_tables import AzureTablesStore

        return AzureTablesStore(connection_string=url)
    parsed = urlparse(url)
    if parsed.scheme == "https" and (parsed.hostname or "").endswith(".table.core.windows.net"):
        from .azure_tables import AzureTablesStore

        return AzureTablesStore(account_url=url)
    raise ValueError(
        "ROSTER_STORE must be sqlite:///<path>, an Azure Tables connection string,"
        " or https://<account>.table.core.windows.net"
    )
