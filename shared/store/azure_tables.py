"""TableStore on Azure Table Storage (or Azurite) with azure-data-tables."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import (
    EdmType,
    EntityProperty,
    TableClient,
    TableServiceClient,
    TableTransactionError,
    UpdateMode,
)

from .keys import decode_key, encode_key, prefix_end_utf16
from .port import (
    INT32_MAX,
    INT32_MIN,
    MAX_BATCH_BYTES,
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
)
from .validation import check_batch, check_entity, check_equals, check_table_name, matches

_TOO_LARGE = {"PropertyValueTooLarge", "EntityTooLarge", "RequestBodyTooLarge"}


def map_error(exc: AzureError) -> StoreError:
    """The StoreError for an azure-core/azure-data-tables error."""
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "error_code", None)
    code = str(getattr(code, "value", code) or "")
    message = str(getattr(exc, "message", None) or exc).split("\n", 1)[0]
    if code == "TableNotFound":
        return StoreError(message)
    if isinstance(exc, ResourceExistsError) or status == 409:
        return EntityExists(message)
    if isinstance(exc, ResourceModifiedError) or status == 412:
        return ETagMismatch(message)
    if isinstance(exc, ResourceNotFoundError) or status == 404:
        return EntityNotFound(message)
    if status == 413 or code in _TOO_LARGE:
        return PropertyTooLarge(message)
    if status == 400:
        return InvalidEntity(message)
    return StoreError(message)


def to_azure(pk: str, rk: str, properties: dict[str, Any]) -> dict[str, Any]:
    """The azure-data-tables entity for encoded keys and validated properties."""
    body: dict[str, Any] = {"PartitionKey": pk, "RowKey": rk}
    for name, value in properties.items():
        if type(value) is int and not INT32_MIN <= value <= INT32_MAX:
            value = EntityProperty(value, EdmType.INT64)
        body[name] = value
    return body


def _from_value(value: Any) -> Any:
    if isinstance(value, EntityProperty):
        value = value.value
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
        return datetime.combine(value.date(), value.time(), UTC)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def from_azure(entity: Any) -> Entity:
    """The port Entity for an azure-data-tables TableEntity."""
    properties = {
        name: _from_value(value)
        for name, value in entity.items()
        if name not in ("PartitionKey", "RowKey", "Timestamp", "etag")
    }
    return Entity(
        decode_key(entity["PartitionKey"]),
        decode_key(entity["RowKey"]),
        properties,
        entity.metadata.get("etag"),
    )


def _refuse_oversized(request: Any) -> None:
    """Before a transaction goes out: its request body, exactly as it will be sent, is at
    most MAX_BATCH_BYTES (check_batch counted the same bytes ahead; this is the last word)."""
    body = request.http_request.content
    size = len(body) if isinstance(body, bytes | bytearray | str) else 0
    if size > MAX_BATCH_BYTES:
        raise BatchTooLarge(f"batch of {size} bytes on the wire, over {MAX_BATCH_BYTES}")


def _condition(etag: str | None) -> dict[str, Any]:
    if etag is None:
        return {}
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


def _server_side(value: Any) -> bool:
    """Whether azure-data-tables renders this `equals` value as the right OData literal."""
    if isinstance(value, (bool, str)):
        return True
    if type(value) is int:
        return (INT32_MIN <= value <= INT32_MAX and value not in (0, 1)) or value.bit_length() > 32
    return False


class AzureTablesStore:
    """TableStore on a storage account; tables are created on first use."""

    def __init__(
        self,
        connection_string: str | None = None,
        account_url: str | None = None,
        credential: Any = None,
    ):
        self._own_credential = None
        if connection_string:
            connection_string = connection_string.strip()
            if connection_string.lower().startswith("usedevelopmentstorage=true"):
                connection_string = "UseDevelopmentStorage=true"
            self._service = TableServiceClient.from_connection_string(connection_string)
        elif account_url:
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = self._own_credential = DefaultAzureCredential()
            self._service = TableServiceClient(endpoint=account_url, credential=credential)
        else:
            raise ValueError("AzureTablesStore needs a connection_string or an account_url")
        self._lock = threading.Lock()
        self._tables: dict[str, AzureTable] = {}

    def table(self, name: str) -> AzureTable:
        key = check_table_name(name).lower()
        with self._lock:
            table = self._tables.get(key)
        if table is None:
            try:
                client = self._service.create_table_if_not_exists(name)
            except AzureError as exc:
                raise map_error(exc) from exc
            with self._lock:
                table = self._tables.setdefault(key, AzureTable(name, client))
        return table

    def unit_of_work(self) -> AbstractContextManager[None]:
        """Table Storage has no transaction across partitions: each batch commits on its own."""
        return nullcontext()

    def after_commit(self, action: Callable[[], None]) -> None:
        action()  # every write is durable when its call returns

    def before_commit(self, action: Callable[[], None]) -> bool:
        return False  # no unit commits as one: nothing to defer to

    def close(self) -> None:
        self._service.close()
        if self._own_credential is not None:
            self._own_credential.close()


class AzureTable:
    """One table of an AzureTablesStore."""

    def __init__(self, name: str, client: TableClient):
        self.name = name
        self._client = client

    def get(self, partition_key: str, row_key: str) -> Entity | None:
        pk, rk = encode_key(partition_key, "PartitionKey"), encode_key(row_key, "RowKey")
        try:
            return from_azure(self._client.get_entity(pk, rk))
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) == "TableNotFound":
                raise map_error(exc) from exc
            return None
        except AzureError as exc:
            raise map_error(exc) from exc

    def insert(self, entity: Entity) -> Entity:
        pk, rk, props = check_entity(entity)
        return self._write(entity, props, self._client.create_entity, to_azure(pk, rk, props))

    def upsert(self, entity: Entity) -> Entity:
        pk, rk, props = check_entity(entity)
        body = to_azure(pk, rk, props)
        return self._write(entity, props, self._client.upsert_entity, body, mode=UpdateMode.REPLACE)

    def replace(self, entity: Entity, etag: str | None) -> Entity:
        pk, rk, props = check_entity(entity)
        body = to_azure(pk, rk, props)
        kwargs = _condition(etag)
        return self._write(
            entity, props, self._client.update_entity, body, mode=UpdateMode.REPLACE, **kwargs
        )

    def delete(self, partition_key: str, row_key: str, etag: str | None = None) -> None:
        pk, rk = encode_key(partition_key, "PartitionKey"), encode_key(row_key, "RowKey")
        key = {"PartitionKey": pk, "RowKey": rk}
        try:
            if etag is None:
                self._client.delete_entity(pk, rk)
            else:
                self._client.submit_transaction([("delete", key, _condition(etag))])
        except AzureError as exc:
            raise map_error(exc) from exc

    def _write(
        self, entity: Entity, props: dict[str, Any], call: Any, body: dict, **kwargs: Any
    ) -> Entity:
        try:
            metadata = call(body, **kwargs)
        except AzureError as exc:
            raise map_error(exc) from exc
        return Entity(entity.partition_key, entity.row_key, props, metadata.get("etag"))

    def query(
        self,
        partition_key: str,
        *,
        prefix: str | None = None,
        start: str | None = None,
        end: str | None = None,
        equals: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> Iterator[Entity]:
        wanted = check_equals(equals)
        clauses = ["PartitionKey eq @pk"]
        params: dict[str, Any] = {"pk": encode_key(partition_key, "PartitionKey")}
        prefix_enc = None
        if prefix is not None:
            prefix_enc = params["prefix"] = encode_key(prefix, "prefix")
            clauses.append("RowKey ge @prefix")
            upper = prefix_end_utf16(prefix_enc)
            if upper is not None:
                params["upper"] = upper
                clauses.append("RowKey lt @upper")
        if start is not None:
            params["start"] = encode_key(start, "start")
            clauses.append("RowKey ge @start")
        if end is not None:
            params["end"] = encode_key(end, "end")
            clauses.append("RowKey lt @end")
        for index, (name, value) in enumerate(wanted.items()):
            if value is not None and _server_side(value):
                params[f"v{index}"] = value
                clauses.append(f"{name} eq @v{index}")
        return self._results(" and ".join(clauses), params, prefix_enc, wanted, limit)

    def _results(
        self,
        query_filter: str,
        params: dict[str, Any],
        prefix_enc: str | None,
        wanted: dict[str, Any],
        limit: int | None,
    ) -> Iterator[Entity]:
        if limit is not None and limit <= 0:
            return
        per_page = min(limit, 1000) if limit is not None else None
        count = 0
        try:
            pages = self._client.query_entities(
                query_filter, parameters=params, results_per_page=per_page
            )
            for item in pages:
                if prefix_enc is not None and not item["RowKey"].startswith(prefix_enc):
                    continue
                entity = from_azure(item)
                if matches(entity.properties, wanted):
                    yield entity
                    count += 1
                    if limit is not None and count >= limit:
                        return
        except AzureError as exc:
            raise map_error(exc) from exc

    def batch(self, partition_key: str, ops: list[Op]) -> list[Entity]:
        checked = check_batch(partition_key, ops)
        if not ops:
            return []
        operations: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        for op, (pk, rk, props) in zip(ops, checked, strict=True):
            body = to_azure(pk, rk, props)
            if op.kind == "insert":
                operations.append(("create", body, {}))
            elif op.kind == "upsert":
                operations.append(("upsert", body, {"mode": UpdateMode.REPLACE}))
            elif op.kind == "replace":
                operations.append(
                    ("update", body, {"mode": UpdateMode.REPLACE, **_condition(op.etag)})
                )
            else:
                operations.append(
                    ("delete", {"PartitionKey": pk, "RowKey": rk}, _condition(op.etag))
                )
        try:
            metadata = self._client.submit_transaction(operations, raw_request_hook=_refuse_oversized)
        except TableTransactionError as exc:
            raise BatchFailed(exc.index, map_error(exc)) from exc
        except AzureError as exc:
            raise BatchFailed(0, map_error(exc)) from exc
        return [
            Entity(
                partition_key,
                op.entity.row_key,
                props,
                None if op.kind == "delete" else meta.get("etag"),
            )
            for op, (_, _, props), meta in zip(ops, checked, metadata, strict=True)
        ]
