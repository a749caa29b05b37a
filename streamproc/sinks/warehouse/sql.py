"""Pure SQL text of the warehouse sink, per dialect (PostgreSQL or DuckDB).

DDL (schema, table, added columns), the temporary staging table and its load (``COPY`` for
PostgreSQL, columnar ``INSERT … unnest`` for DuckDB), and the guarded merge: the staged row of a
key (the sink stages one per key) is upserted only over a row with an older ``_src_position``, or
an equal one with other content (a later change of the same source transaction), so a retried or
redelivered batch changes nothing; a hard delete removes a row of an older or equal position.
Identifiers are always double-quoted (:func:`~streamproc.sinks.warehouse.rows.quote_ident`). No I/O
here; ``postgres.py`` and ``duckdb.py`` run it.

Staging: PostgreSQL keeps one temporary table per target table and connection
(:func:`stage_name`, created once, ``ON COMMIT DELETE ROWS`` empties it at every commit), so a
merge does not create and drop catalog entries; DuckDB replaces its one staging table
(``CREATE OR REPLACE TEMP TABLE``) in every merge. The staging statements take the stage's name
(``stage``, default :data:`STAGE_TABLE`).
"""

from __future__ import annotations

import hashlib

from streamproc.sinks.warehouse.rows import TablePlan, quote_ident
from streamproc.sinks.warehouse.types import Dialect

__all__ = [
    "STAGE_TABLE",
    "stage_name",
    "create_schema_sql",
    "create_table_sql",
    "add_column_sqls",
    "create_stage_sql",
    "copy_stage_sql",
    "insert_stage_sql",
    "upsert_sql",
    "hard_delete_sql",
]

STAGE_TABLE = "streamproc_stage"


def create_schema_sql(schema: str) -> str:
    return f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}"


def _col_defs(table: TablePlan, d: Dialect) -> list[str]:
    return [f"{quote_ident(c.name)} {d.types[c.type]}" for c in table.columns]


def create_table_sql(table: TablePlan, d: Dialect) -> str:
    defs = [f"{quote_ident(c.name)} {d.types[c.type]} NOT NULL" for c in table.key]
    defs += _col_defs(table, d)
    defs += [
        f'"_doc" {d.doc_type}',
        f'"_src_position" {d.position_type} NOT NULL',
        f'"_src_ts" {d.types["timestamptz"]}',
        f'"_deleted" {d.types["boolean"]} NOT NULL DEFAULT false',
        f'"_loaded_at" {d.types["timestamptz"]} NOT NULL DEFAULT now()',
        f"PRIMARY KEY ({_key_list(table)})",
    ]
    return f"CREATE TABLE IF NOT EXISTS {table.qualified} (\n  " + ",\n  ".join(defs) + "\n)"


def add_column_sqls(table: TablePlan, d: Dialect) -> list[str]:
    """One ``ADD COLUMN IF NOT EXISTS`` per configured column (a type change needs a manual ALTER)."""
    return [f"ALTER TABLE {table.qualified} ADD COLUMN IF NOT EXISTS {c}" for c in _col_defs(table, d)]


def _key_list(table: TablePlan, prefix: str = "") -> str:
    return ", ".join(prefix + quote_ident(c.name) for c in table.key)


def stage_name(table: TablePlan) -> str:
    """The staging table of ``table``: :data:`STAGE_TABLE` plus a digest of its name and columns
    (names, types, paths), so each target table has its own (PostgreSQL keeps them per connection)."""
    layout = repr((table.schema, table.name, table.key, table.columns))
    return f"{STAGE_TABLE}_{hashlib.sha256(layout.encode()).hexdigest()[:16]}"


def create_stage_sql(table: TablePlan, d: Dialect, stage: str = STAGE_TABLE) -> str:
    """PostgreSQL: a temporary table kept for the session and emptied at every commit; DuckDB:
    a temporary table replaced by every merge."""
    cols = ", ".join(f"{quote_ident(n)} {t}" for n, t in zip(table.load_columns, table.load_types(d), strict=True))
    if d.name == "postgres":
        return f"CREATE TEMP TABLE IF NOT EXISTS {stage} ({cols}) ON COMMIT DELETE ROWS"
    return f"CREATE OR REPLACE TEMP TABLE {stage} ({cols})"


def copy_stage_sql(table: TablePlan, stage: str = STAGE_TABLE) -> str:
    return f"COPY {stage} ({', '.join(map(quote_ident, table.load_columns))}) FROM STDIN"


def insert_stage_sql(table: TablePlan, d: Dialect, stage: str = STAGE_TABLE) -> str:
    """Columnar load: one list parameter per column, zipped by ``unnest`` (DuckDB)."""
    parts = []
    for i, t in enumerate(table.load_types(d), start=1):
        if t == "JSON":
            parts.append(f"unnest(${i}::VARCHAR[])::JSON")
        else:
            parts.append(f"unnest(${i}::{t}[])")
    return f"INSERT INTO {stage} SELECT {', '.join(parts)}"


def _latest(table: TablePlan, stage: str) -> str:
    keys = _key_list(table)
    return f'(SELECT DISTINCT ON ({keys}) * FROM {stage} ORDER BY {keys}, "_src_position" DESC) AS s'


def upsert_sql(table: TablePlan, stage: str = STAGE_TABLE) -> str:
    """Newest row per key merged under the guard: an older position changes nothing."""
    cols = [quote_ident(n) for n in table.load_columns]
    key_names = {c.name for c in table.key}
    sets = [f"{quote_ident(n)} = EXCLUDED.{quote_ident(n)}" for n in table.load_columns if n not in key_names]
    sets.append('"_loaded_at" = EXCLUDED."_loaded_at"')
    where = ' WHERE NOT s."_deleted"' if table.deletes == "hard" else ""
    return (
        f'INSERT INTO {table.qualified} AS t ({", ".join(cols)}, "_loaded_at")\n'
        f"SELECT {', '.join('s.' + c for c in cols)}, now() FROM {_latest(table, stage)}{where}\n"
        f"ON CONFLICT ({_key_list(table)}) DO UPDATE SET {', '.join(sets)}\n"
        f'WHERE t."_src_position" < EXCLUDED."_src_position" OR (t."_src_position" = EXCLUDED."_src_position" '
        f'AND (t."_doc" IS DISTINCT FROM EXCLUDED."_doc" OR t."_deleted" IS DISTINCT FROM EXCLUDED."_deleted"))'
    )


def hard_delete_sql(table: TablePlan, stage: str = STAGE_TABLE) -> str:
    """Rows whose newest event in the batch is a delete with a newer or equal position are removed."""
    join = " AND ".join(f"t.{quote_ident(c.name)} = s.{quote_ident(c.name)}" for c in table.key)
    return (
        f"DELETE FROM {table.qualified} AS t USING {_latest(table, stage)}\n"
        f'WHERE {join} AND s."_deleted" AND t."_src_position" <= s."_src_position"'
    )
