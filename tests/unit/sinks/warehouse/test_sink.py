"""The warehouse sink (``streamproc.sinks.warehouse.sink``, ``backend.py``) without a server:
dry-run plans, the backend chosen by the DSN, start-up failures, rejected records (DuckDB in
memory)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from streamproc.config.settings import WarehouseSettings
from streamproc.sinks.warehouse.backend import backend_for
from streamproc.sinks.warehouse.duckdb import DuckDBBackend
from streamproc.sinks.warehouse.postgres import PostgresBackend
from streamproc.sinks.warehouse.rows import build_row, row_json
from streamproc.sinks.warehouse.sink import WarehouseSink
from streamproc.sinks.warehouse.types import DUCKDB, POSTGRES
from tests.unit.sinks.warehouse.records import ORDERS, orders_table, rec, spec


def test_sink_is_constructible_without_connecting_and_plans_from_the_same_rows() -> None:
    sink = WarehouseSink(spec(), WarehouseSettings(dsn=SecretStr("postgresql://u:pw@127.0.0.1:1/db")))
    records = [
        rec(doc={"id": 1, "total": 3}, position=(1,)),
        rec(op="delete", position=(2,)),
        rec(doc={"total": "abc-secret"}, key={"id": 2}),
        rec(entity="users", key={"_id": "x"}, doc={}),
    ]
    assert sink.wants(records[0]) and not sink.wants(records[3])
    actions = sink.plan(records)
    assert [a["op"] for a in actions] == ["upsert", "delete", "fail"]
    assert actions[0] == {
        "kind": "warehouse",
        "table": "bi.orders",
        "op": "upsert",
        "row": {
            "id": 1,
            "total": "3",
            "customer_name": None,
            "paid": None,
            "created_at": None,
            "meta": None,
            "order_day": None,
            "_doc": {"id": 1, "total": 3},
            "_src_position": [1],
            "_src_ts": "2023-11-14T22:13:20+00:00",
            "_deleted": False,
        },
    }
    assert actions[1]["row"]["_deleted"] is True and actions[1]["row"]["_doc"] is None
    assert "secret" not in str(actions[2])
    assert actions[0]["row"] == row_json(build_row(orders_table(), records[0], POSTGRES))


def test_backend_is_chosen_by_the_dsn() -> None:
    duck = backend_for("duckdb:///var/lib/x.duckdb")
    assert isinstance(duck, DuckDBBackend) and duck.path == "/var/lib/x.duckdb"
    assert backend_for("duckdb://:memory:").path == ":memory:"
    assert isinstance(backend_for("postgresql://u@h/db"), PostgresBackend)
    assert WarehouseSink(spec(), WarehouseSettings(dsn=SecretStr("duckdb:///tmp/x.duckdb"))).dialect is DUCKDB


def test_start_without_dsn_is_fatal() -> None:
    import asyncio

    from streamproc.errors import FatalSinkError

    sink = WarehouseSink(spec(), WarehouseSettings())
    with pytest.raises(FatalSinkError, match="STREAMPROC_WAREHOUSE__DSN"):
        asyncio.run(sink.start())


def test_start_turns_a_key_clash_that_slipped_past_validation_into_a_fatal_error() -> None:
    import asyncio

    from streamproc.errors import FatalSinkError

    s = spec({"orders": {**ORDERS, "key": ["id"]}})
    s.entities["orders"].key = ["_doc"]  # assignment is not validated: the backstop in start()
    sink = WarehouseSink(s, WarehouseSettings(dsn=SecretStr("duckdb://:memory:")))

    async def go() -> None:
        try:
            await sink.start()
        finally:
            await sink.stop()

    with pytest.raises(FatalSinkError, match=r"warehouse: table bi.orders: key field\(s\) \['_doc'\] clash"):
        asyncio.run(go())


def test_a_rejected_record_is_reported_once_and_not_logged_by_the_sink(caplog) -> None:
    import asyncio

    from streamproc.sinks.base import SinkBatch

    sink = WarehouseSink(spec(), WarehouseSettings(dsn=SecretStr("duckdb://:memory:")))
    bad = rec(doc={"total": "abc-secret"}, key={"id": 2})
    batch = SinkBatch([rec(doc={"id": 1, "total": 3}), bad])

    async def go() -> None:
        await sink.start()
        try:
            await sink.write(batch)
        finally:
            await sink.stop()

    with caplog.at_level("DEBUG", logger="streamproc"):
        asyncio.run(go())
    assert [(f.record, f.error_class) for f in batch.failures] == [(bad, "invalid")]
    assert not [
        r for r in caplog.records if r.name.startswith("streamproc.sinks.warehouse")
    ]  # the runtime logs DLQ records
    assert "secret" not in batch.failures[0].reason and "secret" not in caplog.text
