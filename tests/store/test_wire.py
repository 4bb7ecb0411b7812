"""What the store counts for a batch is what azure-data-tables sends to Table Storage:
each entity's JSON to the byte, and each operation's whole part within its allowance."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from azure.core import MatchConditions

from shared.store.azure_tables import AzureTablesStore, to_azure
from shared.store.port import BATCH_PART_BYTES, BatchTooLarge, Entity, Op
from shared.store.validation import check_batch, part_size, wire_body

pytestmark = pytest.mark.azurite

PROPS = {"s": "héllo ✓ 𝄞 \"quoted\" \\ \n", "b": b"\x00\xff" * 10, "i": 5, "big": 2**40, "f": 1.5,
         "nan": float("nan"), "d": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "t": True}  # fmt: skip


class Sent:
    """A raw_request_hook keeping the body of each request."""

    def __init__(self):
        self.bodies: list[bytes] = []

    def __call__(self, request) -> None:
        self.bodies.append(request.http_request.content)


def test_an_entity_is_counted_as_the_exact_json_the_sdk_sends(azurite):
    table = AzureTablesStore(azurite).table("w" + uuid.uuid4().hex[:12])
    [(pk, rk, props)] = check_batch("pé", [Op("insert", Entity("pé", "r/1 é", PROPS))])
    sent = Sent()

    table._client.submit_transaction([("create", to_azure(pk, rk, props), {})], raw_request_hook=sent)

    assert wire_body(pk, rk, props) in sent.bodies[-1]


def test_each_operation_of_a_transaction_fits_its_allowance(azurite):
    store = AzureTablesStore(azurite)
    table = store.table("w" + uuid.uuid4().hex[:12])
    entities = [Entity("pé", f"r{n} é" * 20, PROPS) for n in range(3)]
    table.batch("pé", [Op("insert", e) for e in entities])
    etag = table.get("pé", entities[0].row_key).etag
    ops = [Op("replace", entities[0], etag), Op("delete", entities[1]), Op("upsert", entities[2])]
    checked = check_batch("pé", ops)
    sent = Sent()
    operations = [
        ("update", to_azure(*checked[0]), {"etag": etag, "match_condition": MatchConditions.IfNotModified}),
        ("delete", {"PartitionKey": checked[1][0], "RowKey": checked[1][1]}, {}),
        ("upsert", to_azure(*checked[2]), {}),
    ]

    table._client.submit_transaction(operations, raw_request_hook=sent)

    counted = sum(part_size(op.kind, *item) for op, item in zip(ops, checked, strict=True))
    assert len(sent.bodies[-1]) <= counted < len(sent.bodies[-1]) + len(ops) * BATCH_PART_BYTES


def test_the_azure_adapter_refuses_a_body_over_the_limit_before_sending_it(azurite, monkeypatch):
    table = AzureTablesStore(azurite).table("w" + uuid.uuid4().hex[:12])
    monkeypatch.setattr("shared.store.azure_tables.MAX_BATCH_BYTES", 1000)  # the request's last word

    with pytest.raises(BatchTooLarge, match="on the wire"):
        table.batch("p", [Op("insert", Entity("p", f"r{n}", PROPS)) for n in range(3)])

    assert list(table.query("p")) == []
