"""SQL text of the warehouse sink (``streamproc.sinks.warehouse.sql``): DDL, staging tables, the
guarded merge, quoting."""

from __future__ import annotations

from streamproc.config.sink_warehouse import WarehouseSpec
from streamproc.sinks.warehouse.plan import table_plan
from streamproc.sinks.warehouse.rows import quote_ident
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
from streamproc.sinks.warehouse.types import DUCKDB, POSTGRES
from tests.unit.sinks.warehouse.records import ORDERS, orders_table, spec


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
    assert sql.rstrip().endswith(
        'WHERE t."_src_position" < EXCLUDED."_src_position" OR (t."_src_position" = EXCLUDED."_src_position" '
        'AND (t."_doc" IS DISTINCT FROM EXCLUDED."_doc" OR t."_deleted" IS DISTINCT FROM EXCLUDED."_deleted"))'
    )
    assert '"_loaded_at" = EXCLUDED."_loaded_at"' in sql and '"id" = EXCLUDED' not in sql
    assert 'NOT s."_deleted"' not in sql
    hard = orders_table(entities={"orders": {**ORDERS, "deletes": "hard"}})
    assert 'WHERE NOT s."_deleted"' in upsert_sql(hard)
    assert 't."_src_position" <= s."_src_position"' in hard_delete_sql(hard)
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
