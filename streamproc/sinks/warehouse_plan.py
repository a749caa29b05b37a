"""Pure planning of the warehouse sink: configuration, table and column mapping, rows, SQL text.

No I/O here (psycopg / DuckDB live in ``warehouse.py``); ``write()`` and ``dry-run`` both use
these functions.

Table layout (one table per entity, ``<schema>.<table>``)::

    <key fields>     PRIMARY KEY, named after the fields of ``record.key`` (Mongo: "_id" text)
    <columns>        typed columns from config: document path → SQL type
    _doc             the whole redacted document (jsonb / DuckDB JSON); NULL for deletes
    _src_position    the source position as an integer array (numeric[] / HUGEINT[]); arrays
                     compare element-wise like Python tuples, which orders events of one key
    _src_ts          source change time (timestamptz from ts_ms)
    _deleted         boolean
    _loaded_at       now() when the row was last written; the only wall-clock value

Invariants: every value in a row derives from the record (never the clock); a value that does
not convert to its column type raises :class:`RecordRejected` whose reason names the column and
the type, never the value; identifiers are always double-quoted (case kept, ``"`` doubled).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streamproc.jsonutil import dumps_str, loads
from streamproc.sinks.base import SinkRecord

__all__ = [
    "ColumnType",
    "WarehouseColumn",
    "WarehouseTable",
    "WarehouseSpec",
    "SYSTEM_COLUMNS",
    "LOAD_SYSTEM_COLUMNS",
    "STAGE_TABLE",
    "Dialect",
    "POSTGRES",
    "DUCKDB",
    "ConversionError",
    "RecordRejected",
    "column_name",
    "column_type",
    "Column",
    "TablePlan",
    "PlannedRow",
    "table_plan",
    "build_row",
    "WarehousePlanner",
    "quote_ident",
    "convert",
    "encode_position",
    "lookup",
    "row_json",
    "create_schema_sql",
    "create_table_sql",
    "add_column_sqls",
    "create_stage_sql",
    "copy_stage_sql",
    "insert_stage_sql",
    "drop_stage_sql",
    "upsert_sql",
    "hard_delete_sql",
]

_STRICT = ConfigDict(extra="forbid")

ColumnType = Literal[
    "text", "bigint", "integer", "double", "numeric", "boolean",
    "timestamptz", "timestamp", "date", "jsonb", "uuid",
]

SYSTEM_COLUMNS = ("_doc", "_src_position", "_src_ts", "_deleted", "_loaded_at")
LOAD_SYSTEM_COLUMNS = SYSTEM_COLUMNS[:-1]
STAGE_TABLE = "streamproc_stage"
_MAX_IDENT_BYTES = 63
_UPSERT_OPS = frozenset({"insert", "update", "replace", "upsert", "snapshot"})


def _check_ident(name: str, what: str) -> str:
    if not name or "\x00" in name or len(name.encode()) > _MAX_IDENT_BYTES:
        raise ValueError(f"{what} must be 1–{_MAX_IDENT_BYTES} bytes without NUL")
    return name


class WarehouseColumn(BaseModel):
    model_config = _STRICT

    type: ColumnType
    name: str | None = Field(default=None, description="Default: the path with '.' → '_'.")


class WarehouseTable(BaseModel):
    model_config = _STRICT

    table: str | None = Field(default=None, description="Default: the entity name.")
    columns: dict[str, ColumnType | WarehouseColumn] = Field(
        default_factory=dict, description="Typed columns: document path (dotted) → SQL type."
    )
    deletes: Literal["soft", "hard"] = "soft"
    key: list[str] | None = Field(
        default=None, description="Key fields (default: those of record.key); when given the table is created at start."
    )

    @field_validator("table")
    @classmethod
    def _table_name(cls, v: str | None) -> str | None:
        return None if v is None else _check_ident(v, "table name")

    @model_validator(mode="after")
    def _column_names(self) -> "WarehouseTable":
        seen: dict[str, str] = {}
        for path, col in self.columns.items():
            if not path or any(not seg or "[" in seg or seg == "*" for seg in path.split(".")):
                raise ValueError(f"column path {path!r}: dotted segments only (no arrays, no wildcards)")
            name = column_name(path, col)
            _check_ident(name, f"column name of {path!r}")
            if name in SYSTEM_COLUMNS:
                raise ValueError(f"column name {name!r} is reserved for the system columns")
            if name in seen:
                raise ValueError(f"columns {seen[name]!r} and {path!r} both map to column {name!r}")
            seen[name] = path
        for field in self.key or ():
            _check_ident(field, "key field")
        return self


class WarehouseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    db_schema: str = Field(default="public", alias="schema")
    entities: dict[str, WarehouseTable] | Literal["all"] = "all"

    @field_validator("db_schema")
    @classmethod
    def _schema_name(cls, v: str) -> str:
        return _check_ident(v, "schema")

    def table_config(self, entity: str) -> WarehouseTable | None:
        """The entity's table config; ``None`` when the sink does not write this entity."""
        if self.entities == "all":
            return WarehouseTable()
        return self.entities.get(entity)


def column_name(path: str, col: ColumnType | WarehouseColumn) -> str:
    if isinstance(col, WarehouseColumn) and col.name:
        return col.name
    return path.replace(".", "_")


def column_type(col: ColumnType | WarehouseColumn) -> str:
    return col.type if isinstance(col, WarehouseColumn) else col


# ----------------------------------------------------------------------------------- dialects
@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the PostgreSQL and the DuckDB warehouse."""

    name: str
    types: dict[str, str]
    position_type: str
    doc_type: str
    numeric_max_integer_digits: int | None
    json_rejects_nul: bool


POSTGRES = Dialect(
    name="postgres",
    types={
        "text": "text", "bigint": "bigint", "integer": "integer", "double": "double precision",
        "numeric": "numeric", "boolean": "boolean", "timestamptz": "timestamptz",
        "timestamp": "timestamp", "date": "date", "jsonb": "jsonb", "uuid": "uuid",
    },
    position_type="numeric[]",
    doc_type="jsonb",
    numeric_max_integer_digits=None,
    json_rejects_nul=True,
)

DUCKDB = Dialect(
    name="duckdb",
    types={
        "text": "VARCHAR", "bigint": "BIGINT", "integer": "INTEGER", "double": "DOUBLE",
        "numeric": "DECIMAL(38,10)", "boolean": "BOOLEAN", "timestamptz": "TIMESTAMPTZ",
        "timestamp": "TIMESTAMP", "date": "DATE", "jsonb": "JSON", "uuid": "UUID",
    },
    position_type="HUGEINT[]",
    doc_type="JSON",
    numeric_max_integer_digits=28,
    json_rejects_nul=False,
)


# --------------------------------------------------------------------------------- conversion
class ConversionError(ValueError):
    """A value does not fit a column type; the message names the problem, never the value."""


class RecordRejected(Exception):
    """A permanent per-record failure: ``reason`` names fields and types, never values."""

    def __init__(self, reason: str, error_class: str = "permanent", table: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_class = error_class
        self.table = table


_INT_RE = re.compile(r"[+-]?\d+")
_TRUE = frozenset({"true", "t", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0"})
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_INT_BITS = {"bigint": 63, "integer": 31}


def _to_text(v: Any, d: Dialect) -> str:
    if isinstance(v, str):
        s = v
    elif isinstance(v, bool):
        s = "true" if v else "false"
    elif isinstance(v, (int, float)):
        s = repr(v)
    else:
        s = dumps_str(v)
    if "\x00" in s:
        raise ConversionError("contains a NUL character")
    return s


def _to_int(v: Any, bits: int) -> int:
    if isinstance(v, bool):
        raise ConversionError("is a boolean")
    if isinstance(v, float):
        if not v.is_integer():
            raise ConversionError("is not integral")
        v = int(v)
    elif isinstance(v, str):
        if not _INT_RE.fullmatch(v.strip()):
            raise ConversionError("is not an integer")
        v = int(v.strip())
    if not isinstance(v, int):
        raise ConversionError("is not an integer")
    if not -(1 << bits) <= v < (1 << bits):
        raise ConversionError("is out of range")
    return v


def _to_double(v: Any, d: Dialect) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ConversionError("is not a number")
    try:
        f = float(v)
    except (ValueError, OverflowError):
        raise ConversionError("is not a number") from None
    if f != f or f in (float("inf"), float("-inf")):
        raise ConversionError("is not a finite number")
    return f


def _to_numeric(v: Any, d: Dialect) -> Decimal:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ConversionError("is not a number")
    try:
        n = Decimal(repr(v) if isinstance(v, float) else str(v).strip())
    except InvalidOperation:
        raise ConversionError("is not a decimal number") from None
    if not n.is_finite():
        raise ConversionError("is not a finite number")
    limit = d.numeric_max_integer_digits
    if limit is not None and n != 0 and n.adjusted() + 1 > limit:
        raise ConversionError(f"has more than {limit} integer digits")
    return n


def _to_boolean(v: Any, d: Dialect) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
    raise ConversionError("is not a boolean")


def _parse_datetime(v: Any) -> datetime:
    if isinstance(v, bool):
        raise ConversionError("is not a timestamp")
    try:
        if isinstance(v, (int, float)):
            return _EPOCH + timedelta(milliseconds=v)
        if isinstance(v, str):
            dt = datetime.fromisoformat(v.strip())
            return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        pass
    raise ConversionError("is not an ISO 8601 timestamp or epoch milliseconds")


def _to_timestamptz(v: Any, d: Dialect) -> datetime:
    return _parse_datetime(v).astimezone(timezone.utc)


def _to_timestamp(v: Any, d: Dialect) -> datetime:
    return _parse_datetime(v).astimezone(timezone.utc).replace(tzinfo=None)


def _to_date(v: Any, d: Dialect) -> date:
    if isinstance(v, str):
        try:
            return date.fromisoformat(v.strip())
        except ValueError:
            pass
        try:
            dt = datetime.fromisoformat(v.strip())
        except ValueError:
            raise ConversionError("is not an ISO 8601 date") from None
        return (dt.astimezone(timezone.utc) if dt.tzinfo else dt).date()
    raise ConversionError("is not an ISO 8601 date")


def _to_json(v: Any, d: Dialect) -> str:
    s = dumps_str(v)
    if d.json_rejects_nul and "\\u0000" in s:
        raise ConversionError("contains a NUL character, which PostgreSQL jsonb cannot store")
    return s


def _to_uuid(v: Any, d: Dialect) -> str:
    if isinstance(v, str):
        try:
            return str(uuid.UUID(v.strip()))
        except ValueError:
            pass
    raise ConversionError("is not a UUID")


_CONVERTERS: dict[str, Callable[[Any, Dialect], Any]] = {
    "text": _to_text,
    "bigint": lambda v, d: _to_int(v, _INT_BITS["bigint"]),
    "integer": lambda v, d: _to_int(v, _INT_BITS["integer"]),
    "double": _to_double,
    "numeric": _to_numeric,
    "boolean": _to_boolean,
    "timestamptz": _to_timestamptz,
    "timestamp": _to_timestamp,
    "date": _to_date,
    "jsonb": _to_json,
    "uuid": _to_uuid,
}


def convert(value: Any, type_: str, dialect: Dialect = POSTGRES) -> Any:
    """``value`` as a Python value of the column type (``None`` stays ``None``).

    jsonb values become JSON text; timestamps aware UTC datetimes (``timestamp``: naive UTC);
    integers given as epoch milliseconds are accepted for timestamps. Raises
    :class:`ConversionError` naming the problem, never the value.
    """
    if value is None:
        return None
    return _CONVERTERS[type_](value, dialect)


_POSITION_LIMIT = 1 << 127


def encode_position(position: tuple[int, ...]) -> list[int]:
    """The position as the integer array stored in ``_src_position``.

    Both databases compare arrays element by element and a shorter prefix first, exactly like
    Python tuples, so ``a < b`` ⇔ ``encode_position(a) < encode_position(b)`` in SQL too.
    """
    if not position:
        raise ConversionError("record has no source position")
    if any(isinstance(p, bool) or not isinstance(p, int) or not -_POSITION_LIMIT <= p < _POSITION_LIMIT for p in position):
        raise ConversionError("source position is not a tuple of 128-bit integers")
    return list(position)


def lookup(doc: Any, path: tuple[str, ...]) -> Any:
    """The value at a dotted path (a numeric segment indexes a list); ``None`` when absent."""
    cur = doc
    for seg in path:
        if isinstance(cur, dict):
            cur = cur.get(seg)
        elif isinstance(cur, list) and seg.isdigit() and int(seg) < len(cur):
            cur = cur[int(seg)]
        else:
            return None
        if cur is None:
            return None
    return cur


# ------------------------------------------------------------------------------------- tables
def quote_ident(name: str) -> str:
    """A double-quoted identifier (case kept); the same rule in PostgreSQL and DuckDB."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TablePlan:
    """One entity's table: key columns (from record.key), configured columns, system columns."""

    entity: str
    schema: str
    name: str
    key: tuple[Column, ...]
    columns: tuple[Column, ...]
    deletes: str

    @property
    def qualified(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    @property
    def display(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def key_fields(self) -> tuple[str, ...]:
        return tuple(c.path[0] for c in self.key)

    @property
    def load_columns(self) -> tuple[str, ...]:
        """Columns of a row, in order (everything but ``_loaded_at``)."""
        return tuple(c.name for c in self.key + self.columns) + LOAD_SYSTEM_COLUMNS

    def load_types(self, d: Dialect) -> tuple[str, ...]:
        return tuple(d.types[c.type] for c in self.key + self.columns) + (
            d.doc_type, d.position_type, d.types["timestamptz"], d.types["boolean"],
        )


def table_plan(spec: WarehouseSpec, entity: str, cfg: WarehouseTable, key_fields: tuple[str, ...]) -> TablePlan:
    """The table of ``entity`` keyed by ``key_fields``; :class:`RecordRejected` if they clash."""
    name = cfg.table or entity
    try:
        _check_ident(name, "table name")
        for f in key_fields:
            _check_ident(f, "key field")
    except ValueError as exc:
        raise RecordRejected(f"entity {entity!r}: {exc}", "invalid") from None
    if not key_fields:
        raise RecordRejected(f"entity {entity!r}: record has no key fields", "invalid")
    configured = {path: col for path, col in cfg.columns.items()}
    key_cols = []
    for f in key_fields:
        col = configured.pop(f, None)
        key_cols.append(Column(column_name(f, col) if col else f, column_type(col) if col else "text", (f,)))
    cols = tuple(Column(column_name(p, c), column_type(c), tuple(p.split("."))) for p, c in configured.items())
    names = [c.name for c in key_cols] + [c.name for c in cols]
    clash = sorted({n for n in names if n in SYSTEM_COLUMNS or names.count(n) > 1})
    if clash:
        raise RecordRejected(
            f"table {spec.db_schema}.{name}: key field(s) {clash} clash with system or configured columns",
            "invalid",
        )
    return TablePlan(entity, spec.db_schema, name, tuple(key_cols), cols, cfg.deletes)


# --------------------------------------------------------------------------------------- rows
@dataclass(frozen=True, slots=True)
class PlannedRow:
    record: SinkRecord
    table: TablePlan
    op: Literal["upsert", "delete"]
    values: tuple[Any, ...]  # in ``table.load_columns`` order; jsonb values as JSON text


def _src_ts(ts_ms: int | None) -> datetime | None:
    if ts_ms is None:
        return None
    try:
        return _EPOCH + timedelta(milliseconds=ts_ms)
    except OverflowError:
        return None


def build_row(table: TablePlan, record: SinkRecord, dialect: Dialect) -> PlannedRow:
    """The row a record writes; :class:`RecordRejected` for a permanent failure."""
    if record.op in _UPSERT_OPS:
        op: Literal["upsert", "delete"] = "upsert"
        if not record.complete or record.doc is None:
            raise RecordRejected(
                f"table {table.display}: partial update without the full document "
                "(the warehouse stores whole rows; enable full-document lookup at the source)",
                "invalid", table.display,
            )
    elif record.op == "delete":
        op = "delete"
    elif record.op == "truncate":
        raise RecordRejected(f"table {table.display}: truncate events are not applied", "permanent", table.display)
    else:
        raise RecordRejected(f"table {table.display}: unknown op", "invalid", table.display)
    values: list[Any] = []
    for col in table.key:
        v = record.key.get(col.path[0])
        if v is None:
            raise RecordRejected(f"table {table.display}: key field {col.path[0]!r} is missing or null", "invalid", table.display)
        values.append(_convert_col(table, col, v, dialect))
    doc = record.doc if op == "upsert" else None
    for col in table.columns:
        values.append(_convert_col(table, col, lookup(doc, col.path), dialect))
    try:
        position = encode_position(record.position)
        doc_json = None if doc is None else _to_json(doc, dialect)
    except ConversionError as exc:
        raise RecordRejected(f"table {table.display}: {exc}", "invalid", table.display) from None
    values += [doc_json, position, _src_ts(record.ts_ms), op == "delete"]
    return PlannedRow(record, table, op, tuple(values))


def _convert_col(table: TablePlan, col: Column, value: Any, dialect: Dialect) -> Any:
    try:
        return convert(value, col.type, dialect)
    except ConversionError as exc:
        raise RecordRejected(
            f"table {table.display}: column {col.name!r} ({col.type}) from {'.'.join(col.path)!r}: value {exc}",
            "invalid", table.display,
        ) from None


def _json_value(v: Any, sql_type: str | None) -> Any:
    if v is None:
        return None
    if sql_type in ("jsonb", "doc"):
        return loads(v)
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    return v


def row_json(row: PlannedRow) -> dict[str, Any]:
    """The row as JSON-able column values (what ``dry-run`` prints)."""
    types = [c.type for c in row.table.key + row.table.columns] + ["doc", None, None, None]
    return {name: _json_value(v, t) for name, v, t in zip(row.table.load_columns, row.values, types)}


class WarehousePlanner:
    """Maps records to tables and rows. Key fields of an entity's table are fixed by config
    (``key``) or by the first record seen; a record with other key fields is rejected."""

    def __init__(self, spec: WarehouseSpec, dialect: Dialect) -> None:
        self.spec = spec
        self.dialect = dialect
        self._tables: dict[str, TablePlan] = {}

    def wants(self, entity: str) -> bool:
        return self.spec.table_config(entity) is not None

    def configured_tables(self) -> list[TablePlan]:
        """Tables whose key is configured, so they can be created before any record arrives."""
        if self.spec.entities == "all":
            return []
        return [self.table_for(e, tuple(c.key)) for e, c in self.spec.entities.items() if c.key]

    def table_for(self, entity: str, key_fields: tuple[str, ...]) -> TablePlan:
        known = self._tables.get(entity)
        if known is None:
            cfg = self.spec.table_config(entity)
            if cfg is None:
                raise RecordRejected(f"entity {entity!r} is not configured for the warehouse", "permanent")
            known = table_plan(self.spec, entity, cfg, tuple(cfg.key) if cfg.key else key_fields)
            self._tables[entity] = known
        if set(key_fields) != set(known.key_fields):
            raise RecordRejected(
                f"table {known.display}: record key fields {sorted(key_fields)} differ from the table key "
                f"{sorted(known.key_fields)}",
                "invalid", known.display,
            )
        return known

    def row(self, record: SinkRecord) -> PlannedRow:
        table = self.table_for(record.entity, tuple(record.key))
        return build_row(table, record, self.dialect)


# ---------------------------------------------------------------------------------------- SQL
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


def create_stage_sql(table: TablePlan, d: Dialect) -> str:
    cols = ", ".join(f"{quote_ident(n)} {t}" for n, t in zip(table.load_columns, table.load_types(d)))
    if d.name == "postgres":
        return f"CREATE TEMP TABLE {STAGE_TABLE} ({cols}) ON COMMIT DROP"
    return f"CREATE OR REPLACE TEMP TABLE {STAGE_TABLE} ({cols})"


def drop_stage_sql() -> str:
    return f"DROP TABLE IF EXISTS {STAGE_TABLE}"


def copy_stage_sql(table: TablePlan) -> str:
    return f"COPY {STAGE_TABLE} ({', '.join(map(quote_ident, table.load_columns))}) FROM STDIN"


def insert_stage_sql(table: TablePlan, d: Dialect) -> str:
    """Columnar load: one list parameter per column, zipped by ``unnest`` (DuckDB)."""
    parts = []
    for i, (name, t) in enumerate(zip(table.load_columns, table.load_types(d)), start=1):
        if t == "JSON":
            parts.append(f"unnest(${i}::VARCHAR[])::JSON")
        else:
            parts.append(f"unnest(${i}::{t}[])")
    return f"INSERT INTO {STAGE_TABLE} SELECT {', '.join(parts)}"


def _latest(table: TablePlan) -> str:
    keys = _key_list(table)
    return f'(SELECT DISTINCT ON ({keys}) * FROM {STAGE_TABLE} ORDER BY {keys}, "_src_position" DESC) AS s'


def upsert_sql(table: TablePlan) -> str:
    """Newest row per key merged under the guard: an equal or older position changes nothing."""
    cols = [quote_ident(n) for n in table.load_columns]
    key_names = {c.name for c in table.key}
    sets = [f"{quote_ident(n)} = EXCLUDED.{quote_ident(n)}" for n in table.load_columns if n not in key_names]
    sets.append('"_loaded_at" = EXCLUDED."_loaded_at"')
    where = ' WHERE NOT s."_deleted"' if table.deletes == "hard" else ""
    return (
        f"INSERT INTO {table.qualified} AS t ({', '.join(cols)}, \"_loaded_at\")\n"
        f"SELECT {', '.join('s.' + c for c in cols)}, now() FROM {_latest(table)}{where}\n"
        f"ON CONFLICT ({_key_list(table)}) DO UPDATE SET {', '.join(sets)}\n"
        f'WHERE t."_src_position" < EXCLUDED."_src_position"'
    )


def hard_delete_sql(table: TablePlan) -> str:
    """Rows whose newest event in the batch is a delete with a newer position are removed."""
    join = " AND ".join(f"t.{quote_ident(c.name)} = s.{quote_ident(c.name)}" for c in table.key)
    return (
        f"DELETE FROM {table.qualified} AS t USING {_latest(table)}\n"
        f'WHERE {join} AND s."_deleted" AND t."_src_position" < s."_src_position"'
    )
