"""Pure table layout and rows of the warehouse sink: :class:`TablePlan`, :func:`build_row`.

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
No I/O here; values are converted by ``types.py``, tables are chosen by ``plan.py`` and the SQL
text is in ``sql.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from streamproc.jsonutil import loads
from streamproc.sinks.base import SinkRecord, utc_from_ms
from streamproc.sinks.warehouse.types import (
    ConversionError,
    Dialect,
    convert,
    encode_position,
)

__all__ = [
    "SYSTEM_COLUMNS",
    "LOAD_SYSTEM_COLUMNS",
    "RecordRejected",
    "quote_ident",
    "Column",
    "TablePlan",
    "PlannedRow",
    "build_row",
    "lookup",
    "row_json",
]

SYSTEM_COLUMNS = ("_doc", "_src_position", "_src_ts", "_deleted", "_loaded_at")
LOAD_SYSTEM_COLUMNS = SYSTEM_COLUMNS[:-1]
_UPSERT_OPS = frozenset({"insert", "update", "replace", "upsert", "snapshot"})


class RecordRejected(Exception):
    """A permanent per-record failure: ``reason`` names fields and types, never values."""

    def __init__(self, reason: str, error_class: str = "permanent", table: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_class = error_class
        self.table = table


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
            d.doc_type,
            d.position_type,
            d.types["timestamptz"],
            d.types["boolean"],
        )


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
        return utc_from_ms(ts_ms)
    except ValueError:
        return None


def build_row(table: TablePlan, record: SinkRecord, dialect: Dialect) -> PlannedRow:
    """The row a record writes; :class:`RecordRejected` for a permanent failure."""
    if record.op in _UPSERT_OPS:
        op: Literal["upsert", "delete"] = "upsert"
        if not record.complete or record.doc is None:
            raise RecordRejected(
                f"table {table.display}: partial update without the full document "
                "(the warehouse stores whole rows; enable full-document lookup at the source)",
                "invalid",
                table.display,
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
            raise RecordRejected(
                f"table {table.display}: key field {col.path[0]!r} is missing or null", "invalid", table.display
            )
        values.append(_convert_col(table, col, v, dialect))
    doc = record.doc if op == "upsert" else None
    for col in table.columns:
        values.append(_convert_col(table, col, lookup(doc, col.path), dialect))
    try:
        position = encode_position(record.position)
        doc_json = convert(doc, "jsonb", dialect)  # None stays None
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
            "invalid",
            table.display,
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
    return {name: _json_value(v, t) for name, v, t in zip(row.table.load_columns, row.values, types, strict=True)}
