"""Pure planning of the warehouse sink: the planner of tables and rows, and the column and
identifier rules the ``sinks.warehouse`` models check.

``WarehouseSpec`` (``sinks.warehouse``, in ``streamproc.config.sink_warehouse``) names the
schema and, per entity, the table, its typed columns (document path → ``ColumnType``), the
delete mode and optionally the key. :func:`table_plan` turns an entity's config and key fields
into a :class:`TablePlan`; :class:`WarehousePlanner` keeps one per entity and builds each
record's row. No I/O here (psycopg / DuckDB live in ``postgres.py`` / ``duckdb.py``);
``write()`` and ``dry-run`` both use these functions. The table layout and rows are in
``rows.py``, value conversion in ``types.py``, the SQL text in ``sql.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from streamproc.sinks.base import SinkRecord
from streamproc.sinks.warehouse.rows import (
    SYSTEM_COLUMNS,
    Column,
    PlannedRow,
    RecordRejected,
    TablePlan,
    build_row,
)
from streamproc.sinks.warehouse.types import ColumnType, Dialect

if TYPE_CHECKING:
    from streamproc.config.sink_warehouse import WarehouseColumn, WarehouseSpec, WarehouseTable

__all__ = [
    "MAX_IDENT_BYTES",
    "check_ident",
    "column_name",
    "column_type",
    "split_columns",
    "column_clashes",
    "table_plan",
    "WarehousePlanner",
]

#: PostgreSQL truncates longer identifiers (UTF-8 bytes).
MAX_IDENT_BYTES = 63


def check_ident(name: str, what: str) -> str:
    """``name`` when it is a usable identifier (1–63 bytes, no NUL); ``ValueError`` naming ``what`` otherwise."""
    if not name or "\x00" in name or len(name.encode()) > MAX_IDENT_BYTES:
        raise ValueError(f"{what} must be 1–{MAX_IDENT_BYTES} bytes without NUL")
    return name


def column_name(path: str, col: ColumnType | WarehouseColumn) -> str:
    """The column of a configured path: its ``name``, else the path with ``.`` → ``_``."""
    if not isinstance(col, str) and col.name:
        return col.name
    return path.replace(".", "_")


def column_type(col: ColumnType | WarehouseColumn) -> str:
    """The SQL type of a configured column (a type name alone, or a column with ``type``)."""
    return col if isinstance(col, str) else col.type


def split_columns(
    key_fields: tuple[str, ...], columns: Mapping[str, ColumnType | WarehouseColumn]
) -> tuple[tuple[Column, ...], tuple[Column, ...]]:
    """(key columns, other configured columns): a key field listed in ``columns`` takes its type and name."""
    configured = dict(columns)
    key_cols = []
    for f in key_fields:
        col = configured.pop(f, None)
        key_cols.append(Column(column_name(f, col) if col else f, column_type(col) if col else "text", (f,)))
    cols = tuple(Column(column_name(p, c), column_type(c), tuple(p.split("."))) for p, c in configured.items())
    return tuple(key_cols), cols


def column_clashes(key_cols: tuple[Column, ...], cols: tuple[Column, ...]) -> list[str]:
    """Column names that the key gives twice or shares with a system or configured column."""
    names = [c.name for c in key_cols + cols]
    return sorted({n for n in names if n in SYSTEM_COLUMNS or names.count(n) > 1})


def table_plan(spec: WarehouseSpec, entity: str, cfg: WarehouseTable, key_fields: tuple[str, ...]) -> TablePlan:
    """The table of ``entity`` keyed by ``key_fields``; :class:`RecordRejected` if they clash."""
    name = cfg.table or entity
    try:
        check_ident(name, "table name")
        for f in key_fields:
            check_ident(f, "key field")
    except ValueError as exc:
        raise RecordRejected(f"entity {entity!r}: {exc}", "invalid") from None
    if not key_fields:
        raise RecordRejected(f"entity {entity!r}: record has no key fields", "invalid")
    key_cols, cols = split_columns(key_fields, cfg.columns)
    clash = column_clashes(key_cols, cols)
    if clash:
        raise RecordRejected(
            f"table {spec.db_schema}.{name}: key field(s) {clash} clash with system or configured columns",
            "invalid",
        )
    return TablePlan(entity, spec.db_schema, name, key_cols, cols, cfg.deletes)


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
                "invalid",
                known.display,
            )
        return known

    def row(self, record: SinkRecord) -> PlannedRow:
        table = self.table_for(record.entity, tuple(record.key))
        return build_row(table, record, self.dialect)
