"""The aggregate sinks: result messages as records (``sinks/aggregates.py``), the warehouse table
``agg_<name>`` with its revision guard (DuckDB on disk, read back with duckdb), and the
OpenSearch actions with external version = revision."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

import duckdb
import httpx
import pytest
from pydantic import SecretStr

from streamproc.config.settings import OpenSearchSettings, WarehouseSettings
from streamproc.config.sink_warehouse import WarehouseSpec
from streamproc.dev.opensearch_fake import OpenSearchFake
from streamproc.errors import DecodeError
from streamproc.jsonutil import dumps
from streamproc.sinks.aggregates import AggregateTable, aggregate_record
from streamproc.sinks.base import SinkBatch
from streamproc.sinks.opensearch.aggregates import AggregateOpenSearchSink, aggregate_action
from streamproc.sinks.warehouse.aggregates import AggregatePlanner, AggregateWarehouseSink, aggregate_table_plan
from streamproc.sinks.warehouse.rows import RecordRejected
from streamproc.sinks.warehouse.types import DUCKDB

TABLE = AggregateTable("orders_per_minute", ("status",), (("n", "count"), ("revenue", "sum"), ("top", "top_k")))


def result(revision: int, n: int, status: object = "paid", start: str = "2026-01-01T00:00:00.000Z") -> bytes:
    return dumps(
        {
            "aggregation": "orders_per_minute",
            "group": {"status": status},
            "window_start": start,
            "window_end": "2026-01-01T00:01:00.000Z",
            "metrics": {"n": n, "revenue": "12.50", "top": [{"value": "sku-1", "weight": n}]},
            "final": True,
            "revision": revision,
            "closed_by": "watermark",
            "late_changes": revision - 1,
            "incomplete": 0,
            "skipped": 0,
        }
    )


def key(status: object = "paid", start: str = "2026-01-01T00:00:00.000Z") -> bytes:
    return dumps({"aggregation": "orders_per_minute", "group": {"status": status}, "window_start": start})


def test_a_result_becomes_a_record_keyed_by_group_and_window_with_the_revision_as_position() -> None:
    r = aggregate_record("p.aggregates.orders_per_minute", 1, 7, key(), result(2, 5))
    assert r.entity == "agg_orders_per_minute" and r.op == "upsert"
    assert r.key == {"status": "paid", "window_start": "2026-01-01T00:00:00.000Z"}
    assert r.position == (2,) and r.doc is not None and r.doc["metrics"]["n"] == 5
    assert aggregate_record("t", 0, 0, key(3), result(1, 1, status=3)).key["status"] == "3"
    assert aggregate_record("t", 0, 0, key(None), result(1, 1, status=None)).key["status"] == "null"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "tombstone"),
        (b"{not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (dumps({"aggregation": "a", "group": {}, "window_start": "x", "metrics": {}}), "'revision'"),
        (dumps({"aggregation": "a", "group": {}, "window_start": "x", "metrics": {}, "revision": True}), "'revision'"),
        (dumps({"aggregation": "a", "group": [], "window_start": "x", "metrics": {}, "revision": 1}), "'group'"),
    ],
)
def test_a_message_that_is_no_result_is_a_decode_error_naming_no_value(value: bytes | None, why: str) -> None:
    with pytest.raises(DecodeError, match=why) as err:
        aggregate_record("t", 0, 0, b"k", value)
    assert "x" not in str(err.value).replace("aggregate", "").replace("JSON", "")


def test_the_table_is_keyed_by_the_group_fields_and_window_start_with_typed_metric_columns() -> None:
    plan = aggregate_table_plan("bi", TABLE)
    assert plan.display == "bi.agg_orders_per_minute"
    assert [(c.name, c.type) for c in plan.key] == [("status", "text"), ("window_start", "timestamptz")]
    types = {c.name: c.type for c in plan.columns}
    assert types["n"] == "bigint" and types["revenue"] == "numeric" and types["top"] == "jsonb"
    assert types["revision"] == "bigint" and types["window_end"] == "timestamptz"
    with pytest.raises(RecordRejected, match="clash"):
        aggregate_table_plan("bi", AggregateTable("x", ("revision",), ()))
    planner = AggregatePlanner(WarehouseSpec(schema="bi"), DUCKDB, [TABLE])
    assert planner.wants("agg_orders_per_minute") and not planner.wants("orders")


def _rows(path: Path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            'SELECT status, "n", revision, late_changes, "_src_position" FROM bi.agg_orders_per_minute ORDER BY status'
        ).fetchall()
    finally:
        con.close()


def test_the_warehouse_keeps_the_highest_revision_and_a_redelivery_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    sink = AggregateWarehouseSink(
        WarehouseSpec(schema="bi"), WarehouseSettings(dsn=SecretStr(f"duckdb://{db}")), [TABLE]
    )

    async def run() -> None:
        await sink.start()
        batches = [
            [aggregate_record("t", 0, 0, key(), result(1, 5))],
            [
                aggregate_record("t", 0, 1, key(), result(2, 6)),
                aggregate_record("t", 0, 2, key("new"), result(1, 1, status="new")),
            ],
            [aggregate_record("t", 0, 0, key(), result(1, 5))],  # a redelivered older revision
        ]
        for records in batches:
            batch = SinkBatch(records)
            await sink.write(batch)
            assert batch.failures == []
        await sink.stop()

    asyncio.run(run())
    assert _rows(db) == [("new", 1, 1, 0, [1]), ("paid", 6, 2, 1, [2])]


def test_the_plan_shows_the_rows_the_results_become() -> None:
    sink = AggregateWarehouseSink(
        WarehouseSpec(schema="bi"), WarehouseSettings(dsn=SecretStr("postgresql://u@127.0.0.1:1/db")), [TABLE]
    )
    (action,) = sink.plan([aggregate_record("t", 0, 0, key(), result(3, 9))])
    assert action["table"] == "bi.agg_orders_per_minute" and action["op"] == "upsert"
    assert action["row"]["revision"] == 3 and action["row"]["n"] == 9 and action["row"]["_src_position"] == [3]


def test_opensearch_indexes_each_window_once_with_the_revision_as_external_version() -> None:
    record = aggregate_record("t", 0, 0, key(), result(4, 2))
    action = aggregate_action(record)["index"]
    assert action == {
        "_index": "agg_orders_per_minute",
        "_id": key().decode(),
        "version": 4,
        "version_type": "external_gte",
    }
    sink = AggregateOpenSearchSink(OpenSearchSettings(url="http://127.0.0.1:1"), [TABLE])
    assert sink.wants(record) and sink.plan([record])[0]["version"] == 4


def test_opensearch_keeps_the_highest_revision_of_each_window(opensearch_fake: OpenSearchFake) -> None:
    sink = AggregateOpenSearchSink(OpenSearchSettings(url=opensearch_fake.url), [TABLE])

    async def run() -> None:
        await sink.start()
        for records in (
            [aggregate_record("t", 0, 0, key(), result(2, 6))],
            [aggregate_record("t", 0, 1, key(), result(1, 5))],  # a lower revision: refused (409 = done)
            [aggregate_record("t", 0, 2, key(), result(2, 6))],  # redelivered: the same content again
        ):
            batch = SinkBatch(records)
            await sink.write(batch)
            assert batch.failures == []
        await sink.stop()

    asyncio.run(run())
    doc = httpx.get(f"{opensearch_fake.url}/agg_orders_per_minute/_doc/{quote(key().decode(), safe='')}").json()
    assert doc["_version"] == 2 and doc["_source"]["metrics"]["n"] == 6
