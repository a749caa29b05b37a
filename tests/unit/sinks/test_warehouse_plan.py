"""Pure planning of the warehouse sink: config, DDL, rows, type conversion, positions, dry-run."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import SecretStr, ValidationError

from streamproc.config.settings import WarehouseSettings
from streamproc.sinks.base import SinkRecord
from streamproc.sinks.warehouse.plan import WarehousePlanner, WarehouseSpec, table_plan
from streamproc.sinks.warehouse.rows import RecordRejected, build_row, lookup, quote_ident, row_json
from streamproc.sinks.warehouse.sink import DuckDBBackend, PostgresBackend, WarehouseSink, backend_for
from streamproc.sinks.warehouse.sql import (
    STAGE_TABLE,
    add_column_sqls,
    copy_stage_sql,
    create_stage_sql,
    create_table_sql,
    hard_delete_sql,
    insert_stage_sql,
    stage_name,
    upsert_sql,
)
from streamproc.sinks.warehouse.types import DUCKDB, POSTGRES, ConversionError, convert, encode_position


def rec(op="insert", key=None, position=(1,), doc=None, entity="orders", complete=True, ts_ms=1_700_000_000_000):
    return SinkRecord(
        topic="streamproc.events.orders",
        partition=0,
        offset=7,
        entity=entity,
        op=op,
        event_type="x",
        namespace="shop.orders",
        key=key if key is not None else {"id": 1},
        position=position,
        ts_ms=ts_ms,
        doc=doc,
        before=None,
        complete=complete,
    )


ORDERS = {
    "columns": {
        "id": "bigint",
        "total": "numeric",
        "customer.name": "text",
        "paid": "boolean",
        "created_at": "timestamptz",
        "meta": "jsonb",
        "day": {"type": "date", "name": "order_day"},
    }
}


def spec(entities=None, schema="bi"):
    return WarehouseSpec.model_validate(
        {"schema": schema, "entities": entities if entities is not None else {"orders": ORDERS}}
    )


def orders_table(dialect=POSTGRES, key=("id",), entities=None):
    s = spec(entities)
    return table_plan(s, "orders", s.table_config("orders"), key)


# ------------------------------------------------------------------------------------- config
def test_spec_reads_the_schema_alias_and_defaults_to_all_entities() -> None:
    s = WarehouseSpec.model_validate({"schema": "bi"})
    assert s.db_schema == "bi" and s.entities == "all"
    assert s.table_config("anything") is not None
    assert spec().table_config("users") is None


@pytest.mark.parametrize(
    "columns, problem",
    [
        ({"_doc": "text"}, "reserved"),
        ({"a.b": "text", "a_b": "bigint"}, "both map"),
        ({"tags[].name": "text"}, "dotted segments"),
        ({"a": {"type": "text", "name": "x" * 64}}, "bytes"),
        ({"a": "varchar"}, "Input should be"),
    ],
)
def test_spec_rejects_bad_columns(columns, problem) -> None:
    with pytest.raises(ValidationError, match=problem):
        spec({"orders": {"columns": columns}})


@pytest.mark.parametrize(
    "table, clash",
    [
        ({"key": ["_doc"]}, "['_doc']"),
        ({"key": ["id", "_src_position"]}, "['_src_position']"),
        ({"key": ["a_b"], "columns": {"a.b": "text"}}, "['a_b']"),
        ({"key": ["id"], "columns": {"ident": {"type": "text", "name": "id"}}}, "['id']"),
        ({"key": ["id", "id"]}, "['id']"),
    ],
)
def test_spec_rejects_a_key_that_clashes_with_system_or_configured_columns(table, clash) -> None:
    """Caught when the configuration loads (naming the entity), not as a RecordRejected at start."""
    with pytest.raises(ValidationError) as info:
        spec({"orders": table})
    (err,) = [e for e in info.value.errors() if "clash" in e["msg"]]
    assert err["loc"][0] == "entities" and err["loc"][-1] == "orders"
    assert f"key field(s) {clash} clash with system or configured columns" in err["msg"]


def test_a_configured_key_column_may_carry_a_type_and_a_name() -> None:
    s = spec({"orders": {"key": ["id"], "columns": {"id": {"type": "bigint", "name": "order_id"}, "a.b": "text"}}})
    (table,) = WarehousePlanner(s, POSTGRES).configured_tables()
    assert [(c.name, c.type) for c in table.key] == [("order_id", "bigint")]
    assert [c.name for c in table.columns] == ["a_b"]


# ---------------------------------------------------------------------------------------- DDL
def test_table_ddl_has_key_typed_columns_and_system_columns() -> None:
    ddl = create_table_sql(orders_table(), POSTGRES)
    assert ddl.startswith('CREATE TABLE IF NOT EXISTS "bi"."orders" (')
    for part in (
        '"id" bigint NOT NULL',
        '"total" numeric',
        '"customer_name" text',
        '"order_day" date',
        '"meta" jsonb',
        '"_doc" jsonb',
        '"_src_position" numeric[] NOT NULL',
        '"_src_ts" timestamptz',
        '"_deleted" boolean NOT NULL DEFAULT false',
        '"_loaded_at" timestamptz NOT NULL DEFAULT now()',
        'PRIMARY KEY ("id")',
    ):
        assert part in ddl
    duck = create_table_sql(orders_table(), DUCKDB)
    for part in ('"total" DECIMAL(38,10)', '"_doc" JSON', '"_src_position" HUGEINT[] NOT NULL', '"meta" JSON'):
        assert part in duck


def test_mongo_id_key_is_a_quoted_text_column_and_all_entities_get_only_system_columns() -> None:
    s = WarehouseSpec.model_validate({"entities": "all"})
    t = table_plan(s, "users", s.table_config("users"), ("_id",))
    assert t.load_columns == ("_id", "_doc", "_src_position", "_src_ts", "_deleted")
    assert '"_id" text NOT NULL' in create_table_sql(t, POSTGRES)
    assert t.qualified == '"public"."users"'


def test_identifiers_are_always_quoted_with_quotes_doubled() -> None:
    assert quote_ident('we"ird Name') == '"we""ird Name"'
    s = spec({"orders": {"table": "Order Lines", "columns": {"createdAt": "timestamptz"}}})
    t = table_plan(s, "orders", s.table_config("orders"), ("id",))
    assert '"bi"."Order Lines"' in create_table_sql(t, POSTGRES)
    assert add_column_sqls(t, POSTGRES) == [
        'ALTER TABLE "bi"."Order Lines" ADD COLUMN IF NOT EXISTS "createdAt" timestamptz'
    ]


def test_merge_sql_keeps_the_newest_per_key_and_guards_on_position() -> None:
    t = orders_table()
    sql = upsert_sql(t)
    assert 'SELECT DISTINCT ON ("id") * FROM streamproc_stage ORDER BY "id", "_src_position" DESC' in sql
    assert 'ON CONFLICT ("id") DO UPDATE SET' in sql
    assert sql.rstrip().endswith('WHERE t."_src_position" < EXCLUDED."_src_position"')
    assert '"_loaded_at" = EXCLUDED."_loaded_at"' in sql and '"id" = EXCLUDED' not in sql
    assert 'NOT s."_deleted"' not in sql
    hard = orders_table(entities={"orders": {**ORDERS, "deletes": "hard"}})
    assert 'WHERE NOT s."_deleted"' in upsert_sql(hard)
    assert 't."_src_position" < s."_src_position"' in hard_delete_sql(hard)
    assert "ON COMMIT DELETE ROWS" in create_stage_sql(t, POSTGRES)
    assert "unnest($8::VARCHAR[])::JSON, unnest($9::HUGEINT[][])" in insert_stage_sql(t, DUCKDB)


def test_each_table_has_its_own_stage_table() -> None:
    t = orders_table()
    stage = stage_name(t)
    assert stage == stage_name(orders_table()) and stage.startswith(STAGE_TABLE + "_")
    assert len(stage.encode()) <= 63 and stage.isidentifier() and stage == stage.lower()
    grown = orders_table(entities={"orders": {"columns": {**ORDERS["columns"], "extra": "text"}}})
    s = WarehouseSpec.model_validate({"schema": "bi", "entities": "all"})
    others = {stage_name(grown), stage_name(table_plan(s, "users", s.table_config("users"), ("id",)))}
    assert stage not in others and len(others) == 2
    pg = create_stage_sql(t, POSTGRES, stage)
    assert pg.startswith(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (") and pg.endswith("ON COMMIT DELETE ROWS")
    assert create_stage_sql(t, DUCKDB).startswith(f"CREATE OR REPLACE TEMP TABLE {STAGE_TABLE} (")
    assert copy_stage_sql(t, stage).startswith(f"COPY {stage} (")
    assert f"FROM {stage} ORDER BY" in upsert_sql(t, stage) and f"FROM {stage} ORDER BY" in hard_delete_sql(t, stage)
    assert insert_stage_sql(t, DUCKDB, stage).startswith(f"INSERT INTO {stage} SELECT")


def test_composite_keys_join_on_every_key_column() -> None:
    s = WarehouseSpec.model_validate({"entities": "all"})
    t = table_plan(s, "lines", s.table_config("lines"), ("order_id", "line"))
    assert 'PRIMARY KEY ("order_id", "line")' in create_table_sql(t, POSTGRES)
    assert 't."order_id" = s."order_id" AND t."line" = s."line"' in hard_delete_sql(t)


def test_key_fields_clashing_with_system_columns_are_rejected() -> None:
    s = WarehouseSpec.model_validate({"entities": "all"})
    with pytest.raises(RecordRejected, match="clash"):
        table_plan(s, "x", s.table_config("x"), ("_doc",))


# ---------------------------------------------------------------------------------- conversion
@pytest.mark.parametrize(
    "value, type_, expected",
    [
        ("42", "bigint", 42),
        (42.0, "bigint", 42),
        (-(2**63), "bigint", -(2**63)),
        (2**31 - 1, "integer", 2**31 - 1),
        ("1.25", "double", 1.25),
        ("12345678901234567890.123", "numeric", Decimal("12345678901234567890.123")),
        (0.1, "numeric", Decimal("0.1")),
        ("yes", "boolean", True),
        (0, "boolean", False),
        ("2024-05-01T10:00:00+02:00", "timestamptz", datetime(2024, 5, 1, 8, tzinfo=UTC)),
        ("2024-05-01T10:00:00Z", "timestamptz", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        (1_700_000_000_000, "timestamptz", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("2024-05-01T10:00:00+02:00", "timestamp", datetime(2024, 5, 1, 8)),
        ("2024-05-01", "date", date(2024, 5, 1)),
        ("2024-05-01T23:30:00-02:00", "date", date(2024, 5, 2)),
        ({"a": [1, 2]}, "jsonb", '{"a":[1,2]}'),
        (12, "text", "12"),
        ({"b": 1}, "text", '{"b":1}'),
        ("6F9619FF-8B86-D011-B42D-00CF4FC964FF", "uuid", "6f9619ff-8b86-d011-b42d-00cf4fc964ff"),
        (None, "bigint", None),
    ],
)
def test_convert_accepts_values_of_the_column_type(value, type_, expected) -> None:
    assert convert(value, type_) == expected


@pytest.mark.parametrize(
    "value, type_",
    [
        ("abc-secret", "bigint"),
        (True, "bigint"),
        (2**63, "bigint"),
        (2**31, "integer"),
        (1.5, "integer"),
        ("not-a-number-secret", "double"),
        ("NaN", "double"),
        ("12,5-secret", "numeric"),
        ("Infinity", "numeric"),
        ("maybe-secret", "boolean"),
        ("yesterday-secret", "timestamptz"),
        ("secret-date", "date"),
        (20240501, "date"),
        ("nul\x00secret", "text"),
        ({"k": "nul\x00secret"}, "jsonb"),
        ("secret-uuid", "uuid"),
    ],
)
def test_convert_rejects_without_naming_the_value(value, type_) -> None:
    with pytest.raises(ConversionError) as info:
        convert(value, type_)
    assert "secret" not in str(info.value)


def test_numeric_limits_follow_the_dialect() -> None:
    big = "1" * 30
    assert convert(big, "numeric", POSTGRES) == Decimal(big)
    with pytest.raises(ConversionError, match="28 integer digits"):
        convert(big, "numeric", DUCKDB)
    assert convert({"k": "a\x00b"}, "jsonb", DUCKDB) == '{"k":"a\\u0000b"}'


def test_lookup_follows_dotted_paths_and_list_indexes() -> None:
    doc = {"a": {"b": [{"c": 1}, {"c": 2}]}, "x": None}
    assert lookup(doc, ("a", "b", "1", "c")) == 2
    assert lookup(doc, ("a", "missing")) is None
    assert lookup(doc, ("x", "y")) is None
    assert lookup(None, ("a",)) is None


# --------------------------------------------------------------------------------- positions
POSITIONS = [
    (1,),
    (1, 0),
    (1, 2),
    (2,),
    (1_700_000_000_000, 3, 1),
    (1_700_000_000_000, 12, 0),
    (2**64 - 1,),
    (0, 2**100),
]


def test_position_encoding_orders_like_the_tuples() -> None:
    encoded = sorted(POSITIONS, key=encode_position)
    assert encoded == sorted(POSITIONS)
    assert encode_position((5, 2)) == [5, 2]


@pytest.mark.parametrize("bad", [(), (True,), (2**127,), ("1",)])
def test_positions_that_cannot_be_compared_are_refused(bad) -> None:
    with pytest.raises(ConversionError):
        encode_position(bad)


# -------------------------------------------------------------------------------------- rows
def test_upsert_row_takes_key_from_record_key_and_columns_from_the_document() -> None:
    t = orders_table()
    doc = {
        "id": 99,
        "total": "12.50",
        "customer": {"name": "Ann"},
        "paid": True,
        "meta": {"k": 1},
        "created_at": "2024-01-02T03:04:05Z",
        "day": "2024-01-02",
    }
    row = build_row(t, rec(key={"id": "5"}, position=(10, 2), doc=doc), POSTGRES)
    assert row.op == "upsert"
    values = dict(zip(t.load_columns, row.values))
    assert values["id"] == 5  # the key comes from record.key, converted to the key column's type
    assert values["total"] == Decimal("12.50") and values["customer_name"] == "Ann"
    assert values["order_day"] == date(2024, 1, 2)
    assert values["meta"] == '{"k":1}'
    assert values["_src_position"] == [10, 2] and values["_deleted"] is False
    assert values["_src_ts"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert '"customer":{"name":"Ann"}' in values["_doc"]


def test_delete_row_keeps_key_and_position_and_nulls_the_document() -> None:
    t = orders_table()
    row = build_row(t, rec(op="delete", key={"id": 5}, position=(11,), doc=None), POSTGRES)
    values = dict(zip(t.load_columns, row.values))
    assert row.op == "delete" and values["_deleted"] is True and values["id"] == 5
    assert values["_doc"] is None and values["total"] is None and values["_src_position"] == [11]


@pytest.mark.parametrize(
    "record, match, error_class",
    [
        (rec(doc={"total": "abc-secret"}), "column 'total' \\(numeric\\)", "invalid"),
        (rec(doc=None, op="update", complete=False), "partial update", "invalid"),
        (rec(doc={"id": 1}, op="truncate"), "truncate", "permanent"),
        (rec(key={"id": None}, doc={}), "key field 'id'", "invalid"),
        (rec(position=(), doc={}), "no source position", "invalid"),
        (rec(doc={"note": "nul\x00secret"}), "NUL", "invalid"),
    ],
)
def test_rejected_records_name_column_and_type_never_the_value(record, match, error_class) -> None:
    with pytest.raises(RecordRejected, match=match) as info:
        build_row(orders_table(), record, POSTGRES)
    assert info.value.error_class == error_class
    assert "secret" not in info.value.reason


def test_planner_fixes_key_fields_per_entity() -> None:
    planner = WarehousePlanner(WarehouseSpec.model_validate({"entities": "all"}), POSTGRES)
    first = planner.row(rec(key={"_id": "65a"}, doc={"_id": "65a"}))
    assert first.table.key_fields == ("_id",)
    with pytest.raises(RecordRejected, match="differ from the table key"):
        planner.row(rec(key={"id": 1}, doc={}))


def test_configured_key_creates_tables_up_front() -> None:
    s = spec({"orders": {**ORDERS, "key": ["id"]}, "users": {}})
    tables = WarehousePlanner(s, POSTGRES).configured_tables()
    assert [t.name for t in tables] == ["orders"]
    assert tables[0].key[0].type == "bigint"


# ----------------------------------------------------------------------------- sink / dry-run
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
        r for r in caplog.records if r.name.startswith("streamproc.sinks.warehouse.sink")
    ]  # the runtime logs DLQ records
    assert "secret" not in batch.failures[0].reason and "secret" not in caplog.text
