"""The TableStore contract: every scenario runs on SQLite and on Azurite alike."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.store import (
    BatchFailed,
    BatchTooLarge,
    Entity,
    EntityExists,
    EntityNotFound,
    ETagMismatch,
    InvalidEntity,
    Op,
    PropertyTooLarge,
    pack_json,
    unpack_json,
)
from tests.helpers.stores import ADAPTERS, opened_store

AWKWARD_KEYS = [
    "a/b",
    "back\\slash",
    "hash#tag",
    "what?",
    "100%",
    "%2F",
    "tab\tnew\nline\x00nul\x7fdel\x9fc1",
    "with space ",
    "'quoted' \"double\"",
    "é",
    "日本",
    "emoji 😀",
    "ｆｕｌｌ",
]


@pytest.fixture(params=[*ADAPTERS, "optimistic"])
def store(request, tmp_path):
    """Each adapter in turn, and the optimistic unit of work over SQLite: the contract holds
    for writes and reads inside one open OptimisticUnit too."""
    yield from opened_store(request, tmp_path)


def _rows(table, pk, **kwargs) -> list[str]:
    return [e.row_key for e in table.query(pk, **kwargs)]


def test_get_insert_upsert_replace_delete_basics(table):
    assert table.get("p", "r") is None
    created = table.insert(Entity("p", "r", {"name": "Ada", "age": 36}))
    assert created.etag
    got = table.get("p", "r")
    assert (got.partition_key, got.row_key, got.properties) == (
        "p",
        "r",
        {"name": "Ada", "age": 36},
    )
    assert got.etag == created.etag

    upserted = table.upsert(Entity("p", "r", {"name": "Ada L."}))
    assert upserted.etag != created.etag
    assert table.get("p", "r").properties == {"name": "Ada L."}, "upsert replaces the whole entity"
    fresh = table.upsert(Entity("p", "r2", {"n": 1}))
    assert table.get("p", "r2").etag == fresh.etag

    replaced = table.replace(Entity("p", "r", {"name": "Ada Lovelace"}), upserted.etag)
    assert replaced.etag not in (created.etag, upserted.etag)
    assert table.get("p", "r").properties == {"name": "Ada Lovelace"}
    table.replace(Entity("p", "r", {"x": True}), None)
    assert table.get("p", "r").properties == {"x": True}

    table.delete("p", "r")
    assert table.get("p", "r") is None
    table.delete("p", "r")
    assert _rows(table, "p") == ["r2"]


def test_insert_of_existing_entity_raises_entity_exists(table):
    table.insert(Entity("p", "r", {"v": 1}))
    with pytest.raises(EntityExists):
        table.insert(Entity("p", "r", {"v": 2}))
    assert table.get("p", "r").properties == {"v": 1}


def test_replace_with_stale_etag_second_writer_loses(table):
    original = table.insert(Entity("p", "r", {"v": 0}))
    first = table.get("p", "r")
    second = table.get("p", "r")
    table.replace(Entity("p", "r", {"v": 1}), first.etag)
    with pytest.raises(ETagMismatch):
        table.replace(Entity("p", "r", {"v": 2}), second.etag)
    assert table.get("p", "r").properties == {"v": 1}
    assert second.etag == original.etag


def test_delete_with_stale_etag_second_writer_loses(table):
    stale = table.insert(Entity("p", "r", {"v": 0}))
    current = table.replace(Entity("p", "r", {"v": 1}), stale.etag)
    with pytest.raises(ETagMismatch):
        table.delete("p", "r", etag=stale.etag)
    assert table.get("p", "r").properties == {"v": 1}
    table.delete("p", "r", etag=current.etag)
    assert table.get("p", "r") is None


def test_replace_or_etag_delete_of_missing_entity_raises_not_found(table):
    with pytest.raises(EntityNotFound):
        table.replace(Entity("p", "missing", {"v": 1}), None)
    gone = table.insert(Entity("p", "gone", {}))
    table.delete("p", "gone")
    with pytest.raises(EntityNotFound):
        table.replace(Entity("p", "gone", {"v": 1}), gone.etag)
    with pytest.raises(EntityNotFound):
        table.delete("p", "gone", etag=gone.etag)
    table.delete("p", "missing")
    assert table.get("p", "missing") is None


def test_batch_applies_every_operation(table):
    old = table.insert(Entity("p", "old", {"v": 0}))
    table.insert(Entity("p", "doomed", {}))
    results = table.batch(
        "p",
        [
            Op("insert", Entity("p", "a", {"v": 1})),
            Op("upsert", Entity("p", "b", {"v": 2})),
            Op("replace", Entity("p", "old", {"v": 3}), etag=old.etag),
            Op("delete", Entity("p", "doomed")),
        ],
    )
    assert [r.row_key for r in results] == ["a", "b", "old", "doomed"]
    assert all(r.etag for r in results[:3]) and results[3].etag is None
    assert table.get("p", "a").etag == results[0].etag
    assert table.get("p", "old").properties == {"v": 3}
    assert _rows(table, "p") == ["a", "b", "old"]
    assert table.batch("p", []) == []


def test_batch_is_atomic_when_third_operation_fails(table):
    table.insert(Entity("p", "taken", {"v": "before"}))
    table.insert(Entity("p", "kept", {"v": "before"}))
    with pytest.raises(BatchFailed) as failure:
        table.batch(
            "p",
            [
                Op("insert", Entity("p", "new", {"v": 1})),
                Op("upsert", Entity("p", "kept", {"v": "after"})),
                Op("insert", Entity("p", "taken", {"v": "after"})),
                Op("upsert", Entity("p", "later", {"v": 4})),
            ],
        )
    assert failure.value.index == 2
    assert isinstance(failure.value.cause, EntityExists)
    assert _rows(table, "p") == ["kept", "taken"]
    assert table.get("p", "kept").properties == {"v": "before"}
    assert table.get("p", "taken").properties == {"v": "before"}


def test_batch_etag_conflict_and_missing_delete_fail_the_batch(table):
    stale = table.insert(Entity("p", "r", {"v": 0}))
    table.upsert(Entity("p", "r", {"v": 1}))
    with pytest.raises(BatchFailed) as failure:
        table.batch(
            "p", [Op("insert", Entity("p", "a")), Op("replace", Entity("p", "r"), stale.etag)]
        )
    assert (failure.value.index, type(failure.value.cause)) == (1, ETagMismatch)
    with pytest.raises(BatchFailed) as failure:
        table.batch("p", [Op("insert", Entity("p", "a")), Op("delete", Entity("p", "missing"))])
    assert (failure.value.index, type(failure.value.cause)) == (1, EntityNotFound)
    assert _rows(table, "p") == ["r"]


def test_batch_refuses_more_than_100_operations_and_invalid_operations(table):
    ops = [Op("insert", Entity("p", f"r{i:03}")) for i in range(101)]
    with pytest.raises(BatchTooLarge):
        table.batch("p", ops)
    with pytest.raises(BatchFailed) as other_partition:
        table.batch("p", [Op("insert", Entity("p", "a")), Op("insert", Entity("q", "b"))])
    with pytest.raises(BatchFailed) as twice:
        table.batch("p", [Op("insert", Entity("p", "a")), Op("upsert", Entity("p", "a"))])
    with pytest.raises(BatchFailed) as too_large:
        table.batch(
            "p",
            [Op("insert", Entity("p", "a")), Op("insert", Entity("p", "b", {"s": "x" * 40_000}))],
        )
    assert [f.value.index for f in (other_partition, twice, too_large)] == [1, 1, 1]
    assert isinstance(too_large.value.cause, PropertyTooLarge)
    assert _rows(table, "p") == []
    assert len(table.batch("p", ops[:100])) == 100
    assert len(_rows(table, "p")) == 100


def test_prefix_and_range_queries_in_row_key_order_with_limit(table):
    for rk in ["b2", "a", "b10", "b1", "c", "ba", "b"]:
        table.insert(Entity("p", rk, {"rk": rk}))
    table.insert(Entity("other", "b1", {}))
    assert _rows(table, "p") == ["a", "b", "b1", "b10", "b2", "ba", "c"]
    assert _rows(table, "p", prefix="b") == ["b", "b1", "b10", "b2", "ba"]
    assert _rows(table, "p", prefix="b1") == ["b1", "b10"]
    assert _rows(table, "p", prefix="b", limit=2) == ["b", "b1"]
    assert _rows(table, "p", prefix="z") == []
    assert _rows(table, "p", prefix="") == _rows(table, "p")
    assert _rows(table, "p", start="b1", end="ba") == ["b1", "b10", "b2"]
    assert _rows(table, "p", start="b2") == ["b2", "ba", "c"]
    assert _rows(table, "p", end="b") == ["a"]
    assert _rows(table, "p", prefix="b", start="b10", end="b2") == ["b10"]
    assert _rows(table, "p", limit=3) == ["a", "b", "b1"]
    assert _rows(table, "p", limit=0) == []
    assert _rows(table, "nobody") == []
    assert [e.properties["rk"] for e in table.query("p", prefix="b")] == _rows(
        table, "p", prefix="b"
    )


def test_query_pages_through_many_entities(table):
    for start in range(0, 1200, 100):
        table.batch(
            "p",
            [Op("insert", Entity("p", f"r{i:05}", {"i": i})) for i in range(start, start + 100)],
        )
    rows = _rows(table, "p")
    assert rows == [f"r{i:05}" for i in range(1200)]
    assert len(_rows(table, "p", limit=1100)) == 1100
    assert len(_rows(table, "p", prefix="r001")) == 100


def test_equals_filter_compares_type_and_value(table):
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    rows = {
        "r1": {"state": "active", "n": 0, "flag": True, "x": 1.5, "at": when, "blob": b"\x01"},
        "r2": {"state": "active", "n": 1, "flag": False, "x": 1.0, "big": 2**40},
        "r3": {"state": "left", "n": 7, "flag": True, "x": 2.0, "big": 2**31},
        "r4": {"state": "active", "n": True, "flag": 1},
    }
    for rk, props in rows.items():
        table.insert(Entity("p", rk, props))
    table.insert(Entity("q", "r9", {"state": "active"}))
    assert _rows(table, "p", equals={"state": "active"}) == ["r1", "r2", "r4"]
    assert _rows(table, "p", equals={"state": "active", "flag": True}) == ["r1"]
    assert _rows(table, "p", equals={"n": 0}) == ["r1"]
    assert _rows(table, "p", equals={"n": 1}) == ["r2"]
    assert _rows(table, "p", equals={"n": True}) == ["r4"]
    assert _rows(table, "p", equals={"n": 7}) == ["r3"]
    assert _rows(table, "p", equals={"flag": False}) == ["r2"]
    assert _rows(table, "p", equals={"x": 1.0}) == ["r2"]
    assert _rows(table, "p", equals={"big": 2**40}) == ["r2"]
    assert _rows(table, "p", equals={"big": 2**31}) == ["r3"]
    assert _rows(table, "p", equals={"at": when.astimezone(timezone(timedelta(hours=2)))}) == ["r1"]
    assert _rows(table, "p", equals={"blob": b"\x01"}) == ["r1"]
    assert _rows(table, "p", equals={"big": None}) == ["r1", "r4"]
    assert _rows(table, "p", equals={"state": "active"}, limit=2) == ["r1", "r2"]
    assert _rows(table, "p", equals={"state": "gone"}) == []
    with pytest.raises(InvalidEntity):
        list(table.query("p", equals={"bad name": 1}))


def test_awkward_keys_round_trip_and_prefix_queries_still_work(table):
    for key in AWKWARD_KEYS:
        table.insert(Entity(key, key, {"key": key}))
        table.insert(Entity("p", key + "/child", {"key": key}))
        table.insert(Entity("p", key + "#sibling", {}))
    for key in AWKWARD_KEYS:
        got = table.get(key, key)
        assert (got.partition_key, got.row_key, got.properties["key"]) == (key, key, key)
        assert _rows(table, key) == [key]
        children = _rows(table, "p", prefix=key)
        assert sorted(children) == sorted([key + "/child", key + "#sibling"]), key
        assert _rows(table, "p", prefix=key + "/") == [key + "/child"]
    everything = table.query("p")
    assert sorted(e.row_key for e in everything) == sorted(
        [k + "/child" for k in AWKWARD_KEYS] + [k + "#sibling" for k in AWKWARD_KEYS]
    )
    table.delete("a/b", "a/b")
    assert table.get("a/b", "a/b") is None


def test_overlong_or_non_string_keys_are_refused(table):
    with pytest.raises(PropertyTooLarge):
        table.insert(Entity("p", "x" * 513))
    with pytest.raises(PropertyTooLarge):
        table.insert(Entity("p", "/" * 200))
    with pytest.raises(InvalidEntity):
        table.insert(Entity("p", 7))  # type: ignore[arg-type]
    table.insert(Entity("p", "x" * 512))
    assert _rows(table, "p") == ["x" * 512]


def test_large_ints_round_trip_as_int(table):
    values = {
        "a": 2**31,
        "b": -(2**31) - 1,
        "c": 2**62,
        "d": 2**63 - 1,
        "e": -(2**63),
        "f": 2**31 - 1,
        "g": 0,
    }
    table.insert(Entity("p", "r", values))
    got = table.get("p", "r").properties
    assert got == values
    assert all(type(v) is int for v in got.values())
    assert [type(v) for v in next(table.query("p")).properties.values()] == [int] * len(values)
    with pytest.raises(PropertyTooLarge):
        table.insert(Entity("p", "s", {"huge": 2**63}))


def test_tz_aware_datetimes_come_back_equal_and_in_utc(table):
    local = datetime(2026, 3, 1, 10, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    table.insert(Entity("p", "r", {"at": local, "whole": datetime(2026, 1, 1, tzinfo=UTC)}))
    got = table.get("p", "r").properties
    assert got["at"] == local
    assert got["at"].utcoffset() == timedelta(0)
    assert got["at"].hour == 8 and got["at"].microsecond == 123456
    assert type(got["at"]) is datetime and type(got["whole"]) is datetime
    assert got["whole"] == datetime(2026, 1, 1, tzinfo=UTC)


def test_naive_datetime_is_refused(table):
    with pytest.raises(InvalidEntity, match="at"):
        table.insert(Entity("p", "r", {"at": datetime(2026, 1, 1)}))
    assert table.get("p", "r") is None


def test_70_kib_string_is_refused_and_nothing_written(table):
    with pytest.raises(PropertyTooLarge, match="big"):
        table.insert(Entity("p", "r", {"big": "x" * 70 * 1024}))
    with pytest.raises(PropertyTooLarge, match="big"):
        table.upsert(Entity("p", "r", {"big": "é" * 33_000}))
    assert table.get("p", "r") is None
    table.insert(Entity("p", "r", {"big": "x" * 32_768}))
    assert len(table.get("p", "r").properties["big"]) == 32_768


def test_invalid_entities_are_refused(table):
    too_many = {f"p{i}": i for i in range(253)}
    oversized = {f"s{i}": "x" * 30_000 for i in range(20)}
    cases = [
        ({"nested": {"a": 1}}, InvalidEntity),
        ({"items": [1, 2]}, InvalidEntity),
        ({"pair": (1, 2)}, InvalidEntity),
        ({"bad name": 1}, InvalidEntity),
        ({"RowKey": "x"}, InvalidEntity),
        ({"etag": "x"}, InvalidEntity),
        ({"Timestamp": "x"}, InvalidEntity),
        ({"x" * 256: 1}, InvalidEntity),
        ({"blob": b"x" * (64 * 1024 + 1)}, PropertyTooLarge),
        (too_many, PropertyTooLarge),
        (oversized, PropertyTooLarge),
    ]
    for properties, error in cases:
        with pytest.raises(error):
            table.insert(Entity("p", "r", properties))
    table.insert(Entity("p", "r", {f"p{i}": i for i in range(251)} | {"x" * 255: 1}))
    assert len(table.get("p", "r").properties) == 252
    assert _rows(table, "p") == ["r"]


def test_pack_json_round_trips_a_200_kb_document(table):
    document = {
        "people": [
            {"id": i, "name": f"Person {i} é😀日本", "tags": ["a", "b"]} for i in range(3000)
        ],
        "astral": "😀" * 40_000,
    }
    props = pack_json(document) | {"kind": "doc"}
    assert props["doc_parts"] > 1
    assert all(
        len(v.encode("utf-16-le")) <= 60_000
        for k, v in props.items()
        if k.startswith("doc") and k != "doc_parts"
    )
    table.insert(Entity("p", "r", props))
    assert unpack_json(table.get("p", "r").properties) == document
    assert unpack_json(pack_json([1, "two"], name="extra"), name="extra") == [1, "two"]
    with pytest.raises(PropertyTooLarge):
        pack_json("x" * 500_000)


def test_filter_injection_returns_nothing_extra(table):
    evil = "x' or PartitionKey ne 'x"
    for pk in ["x", "y", "other", evil]:
        table.insert(Entity(pk, "r", {"state": "active", "owner": pk}))
    table.insert(Entity(evil, "r2", {"state": evil, "owner": evil}))
    assert [e.partition_key for e in table.query(evil)] == [evil, evil]
    assert _rows(table, evil, equals={"state": evil}) == ["r2"]
    assert _rows(table, "x", equals={"state": evil}) == []
    assert _rows(table, "x", equals={"state": "x' or state ne 'x"}) == []
    assert _rows(table, "x", prefix="' or RowKey ne '") == []
    assert _rows(table, "nobody", equals={"owner": evil}) == []


def test_none_property_is_absent_after_write(table):
    written = table.insert(Entity("p", "r", {"keep": "yes", "gone": None}))
    assert written.properties == {"keep": "yes"}
    assert table.get("p", "r").properties == {"keep": "yes"}
    table.upsert(Entity("p", "r", {"keep": None, "other": 1}))
    assert table.get("p", "r").properties == {"other": 1}


def test_bytes_round_trip(table):
    values = {"empty": b"", "raw": bytes(range(256)), "big": b"\xff" * (64 * 1024)}
    table.insert(Entity("p", "r", values))
    got = table.get("p", "r").properties
    assert got == values
    assert all(type(v) is bytes for v in got.values())


def test_bool_and_float_round_trip(table):
    values = {
        "yes": True,
        "no": False,
        "half": 0.5,
        "whole": 2.0,
        "neg": -1e-300,
        "huge": 1.7976931348623157e308,
        "zero": 0.0,
    }
    table.insert(Entity("p", "r", values))
    got = table.get("p", "r").properties
    assert got == values
    assert [type(v) for v in got.values()] == [bool, bool, float, float, float, float, float]


def test_many_threads_share_a_store(store, table):
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            same = store.table(table.name)
            for i in range(20):
                same.upsert(Entity("p", f"w{worker}-{i:02}", {"worker": worker, "i": i}))
                assert same.get("p", f"w{worker}-{i:02}").properties["i"] == i
                entity = same.upsert(Entity("shared", "counter", {"by": worker}))
                assert entity.etag
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(_rows(table, "p")) == 160


def test_a_batch_is_measured_on_the_bytes_sent_not_the_utf16_estimate(table):
    """Non-ASCII text travels as \\uXXXX escapes: 6 bytes a character where the UTF-16
    estimate counts 2. Three entities of 600 KB by that estimate are 5.4 MB on the wire."""
    wide = {f"s{n}": "é" * 30_000 for n in range(10)}
    ops = [Op("insert", Entity("p", f"r{i}", wide)) for i in range(3)]

    with pytest.raises(BatchTooLarge, match="on the wire"):
        table.batch("p", ops)

    assert _rows(table, "p") == []
    assert len(table.batch("p", ops[:2])) == 2  # 3.6 MB on the wire: within the limit
