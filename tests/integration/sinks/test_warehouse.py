"""The warehouse sink against a real PostgreSQL (tests/services/postgres.py) and a DuckDB file.

Scenarios marked with the ``dsn`` fixture run on both backends through the same sink code.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
from datetime import UTC, datetime
from typing import Any

import duckdb
import psycopg
import pytest
from psycopg.rows import dict_row
from pydantic import SecretStr

from streamproc.config.settings import WarehouseSettings
from streamproc.config.sink_warehouse import WarehouseSpec
from streamproc.errors import FatalSinkError, RetriableSinkError
from streamproc.sinks.base import SinkBatch, SinkRecord
from streamproc.sinks.warehouse.backend import RowsRejected
from streamproc.sinks.warehouse.plan import WarehousePlanner, table_plan
from streamproc.sinks.warehouse.postgres import PostgresBackend
from streamproc.sinks.warehouse.sink import WarehouseSink
from streamproc.sinks.warehouse.sql import create_schema_sql, create_table_sql
from streamproc.sinks.warehouse.types import DUCKDB, POSTGRES
from tests.integration.sinks.canary import deliver, leaks

ORDERS = {"columns": {"id": "bigint", "total": "numeric", "status": "text"}}


@pytest.fixture(params=["postgres", "duckdb"])
def dsn(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_database")()
    return f"duckdb://{tmp_path / 'warehouse.duckdb'}"


def is_duck(dsn: str) -> bool:
    return dsn.startswith("duckdb://")


def query(dsn: str, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    if is_duck(dsn):
        con = duckdb.connect(dsn[len("duckdb://") :])
        try:
            cur = con.execute(sql, params or [])
            if cur.description is None:
                return []
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        finally:
            con.close()
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        cur = conn.execute(sql.replace("?", "%s"), params)
        return cur.fetchall() if cur.description else []


def rows(dsn: str, table: str = "orders", schema: str = "bi") -> list[dict[str, Any]]:
    out = query(dsn, f'SELECT * FROM "{schema}"."{table}" ORDER BY 1')
    for r in out:
        r["_src_position"] = [int(p) for p in r["_src_position"]]
        if isinstance(r.get("_doc"), str):
            r["_doc"] = json.loads(r["_doc"])
    return out


def rec(
    op: str, key: Any, position: tuple[int, ...], doc: dict | None = None, entity: str = "orders", offset: int = 0
) -> SinkRecord:
    return SinkRecord(
        topic=f"streamproc.events.{entity}",
        partition=0,
        offset=offset,
        entity=entity,
        op=op,
        event_type="x",
        namespace=f"shop.{entity}",
        key=key if isinstance(key, dict) else {"id": key},
        position=position,
        ts_ms=1_700_000_000_000 + sum(position[:1]),
        doc=doc,
        before=None,
        complete=True,
    )


def order(
    id_: int, position: tuple[int, ...], total: Any = "10.00", status: str = "new", op: str = "insert"
) -> SinkRecord:
    return rec(op, id_, position, {"id": id_, "total": total, "status": status})


def make_sink(
    dsn: str, entities: Any = None, schema: str = "bi", backend: PostgresBackend | None = None
) -> WarehouseSink:
    spec = WarehouseSpec.model_validate({"schema": schema, "entities": entities or {"orders": ORDERS}})
    return WarehouseSink(spec, WarehouseSettings(dsn=SecretStr(dsn)), backend=backend)


async def write(sink: WarehouseSink, *records: SinkRecord) -> SinkBatch:
    batch = SinkBatch(list(records))
    await sink.write(batch)
    return batch


def scenario(dsn: str, *batches: list[SinkRecord], entities: Any = None) -> list[SinkBatch]:
    async def go() -> list[SinkBatch]:
        sink = make_sink(dsn, entities)
        await sink.start()
        try:
            return [await write(sink, *b) for b in batches]
        finally:
            await sink.stop()

    return asyncio.run(go())


def by_id(dsn: str) -> dict[int, dict[str, Any]]:
    return {r["id"]: r for r in rows(dsn)}


# ------------------------------------------------------------------------------ both backends
def test_inserts_updates_and_soft_deletes_land(dsn: str) -> None:
    batches = scenario(
        dsn,
        [order(1, (1,)), order(2, (1,), total=7)],
        [order(1, (2,), total="12.50", status="paid", op="update"), rec("delete", 2, (3,))],
    )
    assert all(not b.failures for b in batches)
    got = by_id(dsn)
    assert set(got) == {1, 2}
    assert str(got[1]["total"]).rstrip("0") == "12.5" and got[1]["status"] == "paid"
    assert got[1]["_doc"] == {"id": 1, "total": "12.50", "status": "paid"}
    assert got[1]["_src_position"] == [2] and got[1]["_deleted"] is False
    assert got[1]["_src_ts"] == datetime(2023, 11, 14, 22, 13, 20, 2000, tzinfo=UTC)
    assert got[2]["_deleted"] is True and got[2]["_doc"] is None and got[2]["total"] is None
    assert got[2]["_src_position"] == [3] and got[1]["_loaded_at"] is not None


def test_hard_deletes_remove_rows_only_under_the_position_guard(dsn: str) -> None:
    hard = {"orders": {**ORDERS, "deletes": "hard"}}
    scenario(
        dsn,
        [order(1, (5,)), order(2, (5,)), order(3, (5,))],
        [rec("delete", 1, (6,)), rec("delete", 2, (4,))],
        [order(3, (7,)), rec("delete", 3, (8,)), rec("delete", 4, (1,))],
        entities=hard,
    )
    assert sorted(by_id(dsn)) == [2]


def test_the_same_batch_twice_changes_nothing(dsn: str) -> None:
    batch = [order(1, (1,)), order(1, (2,), status="paid"), order(2, (1,)), rec("delete", 3, (4,))]
    scenario(dsn, batch)
    first = rows(dsn)
    scenario(dsn, batch, list(batch))
    assert rows(dsn) == first
    assert len(first) == 3


def test_a_stale_record_never_overwrites_a_newer_row(dsn: str) -> None:
    scenario(
        dsn,
        [order(1, (1_700_000_000_000, 10, 0), status="new")],
        [order(1, (1_700_000_000_000, 9, 5), status="old")],
        [rec("delete", 1, (1_700_000_000_000, 2))],
    )
    got = by_id(dsn)[1]
    assert got["status"] == "new" and got["_deleted"] is False
    assert got["_src_position"] == [1_700_000_000_000, 10, 0]


def test_the_newest_version_of_a_key_in_one_batch_wins(dsn: str) -> None:
    scenario(
        dsn,
        [
            order(1, (1, 10), status="v10"),
            order(1, (1, 2), status="v2"),
            order(1, (1, 9), status="v9"),
            order(2, (3,), status="kept"),
            rec("delete", 2, (2,)),
            order(3, (2**64,), status="beyond-int64"),
            order(3, (2**64 - 1,), status="older"),
        ],
    )
    got = by_id(dsn)
    assert got[1]["status"] == "v10" and got[1]["_src_position"] == [1, 10]
    assert got[3]["status"] == "beyond-int64" and got[3]["_src_position"] == [2**64]
    assert got[2]["status"] == "kept" and got[2]["_deleted"] is False


def test_equal_positions_are_later_changes_of_one_transaction_and_the_later_wins(dsn: str) -> None:
    """Ingest drops true duplicates, so equal positions of one key are successive changes of one
    source transaction (same commit, partition order): in one batch and across batches the later
    one wins; a redelivery of both ends where it was and changes nothing."""
    txn = (1_700_000_000_000, 4, 0)
    first, second = order(1, txn, status="placed"), order(1, txn, status="paid", op="update")
    scenario(
        dsn,
        [first, second, order(2, txn, status="a"), rec("delete", 2, txn)],
        [order(3, txn, status="b")],
        [order(3, txn, status="c", op="update")],
    )
    got = by_id(dsn)
    assert got[1]["status"] == "paid" and got[1]["_src_position"] == list(txn)
    assert got[2]["_deleted"] is True
    assert got[3]["status"] == "c"
    before = rows(dsn)
    scenario(dsn, [first, second], [order(3, txn, status="b"), order(3, txn, status="c", op="update")])
    assert rows(dsn) == before


def test_new_columns_are_added_when_the_config_grows(dsn: str) -> None:
    scenario(dsn, [order(1, (1,))])
    grown = {"orders": {"columns": {**ORDERS["columns"], "customer.tier": "integer"}}}
    scenario(
        dsn,
        [rec("update", 1, (2,), {"id": 1, "total": 1, "status": "paid", "customer": {"tier": 3}}), order(2, (1,))],
        entities=grown,
    )
    got = by_id(dsn)
    assert got[1]["customer_tier"] == 3 and got[2]["customer_tier"] is None


def test_a_type_conflict_fails_only_that_record(dsn: str) -> None:
    bad = order(2, (1,), total="abc-secret")
    (batch,) = scenario(dsn, [order(1, (1,)), bad, order(3, (1,))])
    assert [f.record for f in batch.failures] == [bad]
    reason = batch.failures[0].reason
    assert "'total'" in reason and "numeric" in reason and "secret" not in reason
    assert sorted(by_id(dsn)) == [1, 3]


def test_a_row_the_database_rejects_is_isolated(dsn: str) -> None:
    """The table already has "total" as integer while config says bigint: the database refuses
    the one value that overflows, the other rows commit."""
    spec = WarehouseSpec.model_validate(
        {"schema": "bi", "entities": {"orders": {"columns": {"id": "bigint", "total": "integer"}}}}
    )
    dialect = DUCKDB if is_duck(dsn) else POSTGRES
    old = table_plan(spec, "orders", spec.table_config("orders"), ("id",))
    query(dsn, create_schema_sql("bi"))
    query(dsn, create_table_sql(old, dialect))
    entities = {"orders": {"columns": {"id": "bigint", "total": "bigint"}}}
    records = [rec("insert", i, (1,), {"id": i, "total": 2**40 if i == 4 else i}) for i in range(1, 8)]
    (batch,) = scenario(dsn, records, entities=entities)
    assert [f.record.key for f in batch.failures] == [{"id": 4}]
    assert "the database rejected the row" in batch.failures[0].reason
    assert sorted(by_id(dsn)) == [1, 2, 3, 5, 6, 7]


def test_entities_all_gives_key_doc_and_system_columns(dsn: str) -> None:
    users = rec(
        "insert",
        {"_id": "65a1f0c2e4b0a1b2c3d4e5f6"},
        (5, 1),
        {"_id": "65a1f0c2e4b0a1b2c3d4e5f6", "name": "x"},
        entity="users",
    )
    scenario(dsn, [users], entities="all")
    (row,) = rows(dsn, "users")
    assert list(row) == ["_id", "_doc", "_src_position", "_src_ts", "_deleted", "_loaded_at"]
    assert row["_id"] == "65a1f0c2e4b0a1b2c3d4e5f6" and row["_doc"]["name"] == "x"


def test_an_existing_table_with_another_key_is_fatal(dsn: str) -> None:
    spec = WarehouseSpec.model_validate({"schema": "bi"})
    other = table_plan(spec, "orders", spec.table_config("orders"), ("order_no",))
    query(dsn, create_schema_sql("bi"))
    query(dsn, create_table_sql(other, DUCKDB if is_duck(dsn) else POSTGRES))
    with pytest.raises(FatalSinkError, match="primary key"):
        scenario(dsn, [order(1, (1,))])


POSITIONS = [
    (1,),
    (1, 0),
    (1, 2),
    (1, 10),
    (2,),
    (9, 1),
    (10,),
    (1_700_000_000_000, 3, 1),
    (1_700_000_000_000, 12, 0),
    (2**64 - 1,),
    (2**64,),
]


def test_the_database_orders_positions_like_tuples(dsn: str) -> None:
    cast = "HUGEINT[]" if is_duck(dsn) else "numeric[]"
    pairs = [(a, b) for a in POSITIONS for b in POSITIONS]
    sql = " UNION ALL ".join(f"SELECT {i} AS i, ?::{cast} < ?::{cast} AS lt" for i in range(len(pairs)))
    params = [list(p) for pair in pairs for p in pair]
    got = {r["i"]: r["lt"] for r in query(dsn, sql, params)}
    assert got == {i: a < b for i, (a, b) in enumerate(pairs)}


# -------------------------------------------------------------------------- PostgreSQL errors
def test_postgres_stopped_is_retriable_and_the_sink_recovers(local_postgres_factory) -> None:
    server = local_postgres_factory()
    dsn = server.dsn_for(server.create_database())

    async def go() -> None:
        sink = make_sink(dsn)
        await sink.start()
        await write(sink, order(1, (1,)))
        server.stop()
        with pytest.raises(RetriableSinkError) as lost:
            await write(sink, order(2, (1,)))
        with pytest.raises(RetriableSinkError, match="cannot connect") as refused:
            await write(sink, order(2, (1,)))
        for exc in (lost.value, refused.value):
            assert server.password not in str(exc)
        server.start()
        await write(sink, order(2, (1,)))
        await sink.stop()

    asyncio.run(go())
    assert sorted(by_id(dsn)) == [1, 2]


def test_postgres_keeps_one_stage_table_per_table_and_connection(postgres_database) -> None:
    """Created once per connection (not per merge), emptied by every commit, recreated after a reconnect."""
    dsn = postgres_database()

    async def go() -> None:
        backend = PostgresBackend(dsn)
        sink = make_sink(dsn, entities={"orders": ORDERS, "users": {}}, backend=backend)
        await sink.start()

        async def stages() -> list[tuple[str, int, int]]:
            cur = await backend.connection.execute(
                "SELECT relname, oid FROM pg_class "
                "WHERE relnamespace = pg_my_temp_schema() AND relkind = 'r' ORDER BY 1"
            )
            out = []
            for name, oid in await cur.fetchall():
                (count,) = await (await backend.connection.execute(f"SELECT count(*) FROM {name}")).fetchone()
                out.append((name, oid, count))
            return out

        try:
            await write(sink, order(1, (1,)), order(2, (1,)), rec("insert", 7, (1,), {"id": 7}, entity="users"))
            first = await stages()
            assert len(first) == 2 and all(n.startswith("streamproc_stage_") and c == 0 for n, _, c in first)
            await write(sink, order(1, (2,), status="paid"), rec("delete", 7, (2,), entity="users"))
            await write(sink, order(3, (1,)))
            assert await stages() == first  # the same tables (same oids), empty after each commit
            await backend.close()
            await write(sink, order(4, (1,)), rec("insert", 8, (1,), {"id": 8}, entity="users"))
            assert [n for n, _, _ in await stages()] == [n for n, _, _ in first]
        finally:
            await sink.stop()

    asyncio.run(go())
    got = by_id(dsn)
    assert sorted(got) == [1, 2, 3, 4] and got[1]["status"] == "paid"
    users = {r["id"]: r for r in rows(dsn, "users")}
    assert users["7"]["_deleted"] is True and users["8"]["_deleted"] is False


def test_a_wrong_password_is_fatal_and_names_no_secret(postgres_server) -> None:
    password = "wrong-" + secrets.token_hex(6)
    sink = make_sink(postgres_server.dsn_for("postgres", password=password))
    with pytest.raises(FatalSinkError, match="authentication failed") as info:
        asyncio.run(sink.start())
    assert password not in str(info.value) and "STREAMPROC_WAREHOUSE__DSN" in str(info.value)


def test_a_missing_database_is_fatal(postgres_server) -> None:
    sink = make_sink(postgres_server.dsn_for("no_such_database_" + secrets.token_hex(4)))
    with pytest.raises(FatalSinkError, match="does not exist"):
        asyncio.run(sink.start())


def test_permission_denied_is_fatal(postgres_server, postgres_database) -> None:
    dsn = postgres_database()
    role, password = "wh_reader_" + secrets.token_hex(4), secrets.token_hex(8)
    query(dsn, f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        dbname = dsn.rsplit("/", 1)[1]
        sink = make_sink(postgres_server.dsn_for(dbname, user=role, password=password))
        with pytest.raises(FatalSinkError, match="permission denied") as info:
            asyncio.run(sink.start())
        assert password not in str(info.value)
        asyncio.run(sink.stop())
    finally:
        query(dsn, f"DROP ROLE {role}")


ALL_TYPES = {
    "t_text": "text",
    "t_bigint": "bigint",
    "t_integer": "integer",
    "t_double": "double",
    "t_numeric": "numeric",
    "t_boolean": "boolean",
    "t_timestamptz": "timestamptz",
    "t_timestamp": "timestamp",
    "t_date": "date",
    "t_jsonb": "jsonb",
    "t_uuid": "uuid",
}


def test_every_column_type_loads(dsn: str) -> None:
    doc = {
        "t_text": "héllo",
        "t_bigint": "9007199254740993",
        "t_integer": 7,
        "t_double": 1.5,
        "t_numeric": "1234.5678",
        "t_boolean": "yes",
        "t_timestamptz": "2024-05-01T10:00:00+02:00",
        "t_timestamp": "2024-05-01T10:00:00",
        "t_date": "2024-05-01",
        "t_jsonb": {"a": [1, {"b": None}]},
        "t_uuid": "6F9619FF-8B86-D011-B42D-00CF4FC964FF",
    }
    (batch,) = scenario(
        dsn, [rec("insert", {"k": "x"}, (1,), doc, entity="typed")], entities={"typed": {"columns": ALL_TYPES}}
    )
    assert not batch.failures
    (row,) = rows(dsn, "typed")
    assert row["t_text"] == "héllo" and row["t_bigint"] == 9007199254740993 and row["t_integer"] == 7
    assert row["t_double"] == 1.5 and float(row["t_numeric"]) == 1234.5678 and row["t_boolean"] is True
    assert row["t_timestamptz"] == datetime(2024, 5, 1, 8, tzinfo=UTC)
    assert row["t_timestamp"] == datetime(2024, 5, 1, 10) and str(row["t_date"]) == "2024-05-01"
    jsonb = row["t_jsonb"] if isinstance(row["t_jsonb"], dict) else json.loads(row["t_jsonb"])
    assert jsonb == {"a": [1, {"b": None}]}
    assert str(row["t_uuid"]) == "6f9619ff-8b86-d011-b42d-00cf4fc964ff"


# -------------------------------------------------------------------------- no value in any output
def test_a_unique_violation_quoting_a_value_reaches_no_exception_log_dlq_or_metric(
    postgres_database, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator's unique index on a column: PostgreSQL's error quotes the duplicate value
    (``DETAIL: Key (status)=(…) already exists``). The row goes to the DLQ with a value-free reason
    and the canary is in no exception, log record, DLQ reason or metric label."""
    dsn = postgres_database()
    canary = "canary-" + secrets.token_hex(6) + "@example.org"
    scenario(dsn, [order(9, (1,), status="seed")])  # creates the table
    query(dsn, "CREATE UNIQUE INDEX orders_status_unique ON bi.orders (status)")

    caplog.set_level(logging.DEBUG)
    records = [order(1, (1,), status=canary), order(2, (1,), status=canary), order(3, (1,), status="ok")]
    delivery = asyncio.run(deliver(make_sink(dsn), records, entities=["orders"]))
    assert delivery.written == 2 and [f.record.key for f in delivery.dlq] == [{"id": 2}]
    assert "SQLSTATE 23505" in delivery.dlq[0].reason
    assert sorted(by_id(dsn)) == [1, 3, 9]
    with pytest.raises(psycopg.errors.UniqueViolation) as raw:  # the canary is really in the database's answer
        query(dsn, "UPDATE bi.orders SET status = %s WHERE id = 3", [canary])
    assert canary in str(raw.value)

    async def rejected() -> BaseException:  # the backend's own exception for the same rows
        spec = WarehouseSpec.model_validate({"schema": "bi", "entities": {"orders": ORDERS}})
        table = table_plan(spec, "orders", spec.table_config("orders"), ("id",))
        backend = PostgresBackend(dsn)
        planner = WarehousePlanner(spec, POSTGRES)
        rows_ = [planner.row(order(n, (5,), status=canary)).values for n in (4, 5)]
        try:
            await backend.merge(table, rows_)
        except RowsRejected as exc:
            return exc
        finally:
            await backend.close()
        raise AssertionError("the unique violation was not raised")

    exc = asyncio.run(rejected())
    assert "23505" in str(exc)
    assert leaks(canary, delivery, caplog, [exc]) == []


def test_postgres_down_at_start_is_waited_out_by_the_runner(local_postgres_factory) -> None:
    server = local_postgres_factory()
    dsn = server.dsn_for(server.create_database())
    server.stop()
    back = threading.Timer(3.0, server.start)  # PostgreSQL comes back while the runner retries
    back.start()
    try:
        delivery = asyncio.run(deliver(make_sink(dsn), [order(1, (1,)), order(2, (1,))], entities=["orders"]))
    finally:
        back.join()
    retries = delivery.metrics.registry.get_sample_value(
        "streamproc_sink_retries_total", {"sink": "warehouse", "reason": "transient"}
    )
    assert retries is not None and retries > 0  # the start really failed and was retried
    assert delivery.written == 2 and sorted(by_id(dsn)) == [1, 2]
