"""Pure planning of the warehouse sink: configuration models and the planner of tables and rows.

:class:`WarehouseSpec` (``sinks.warehouse``) names the schema and, per entity, the table, its
typed columns (document path → :data:`ColumnType`), the delete mode and optionally the key.
:func:`table_plan` turns an entity's config and key fields into a :class:`TablePlan`;
:class:`WarehousePlanner` keeps one per entity and builds each record's row. No I/O here
(psycopg / DuckDB live in ``warehouse.py``); ``write()`` and ``dry-run`` both use these
functions. The table layout and rows are in ``warehouse_rows.py``, value conversion in
``warehouse_types.py``, the SQL text in ``warehouse_sql.py``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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

__all__ = [
    "WarehouseColumn",
    "WarehouseTable",
    "WarehouseSpec",
    "column_name",
    "column_type",
    "table_plan",
    "WarehousePlanner",
]

_STRICT = ConfigDict(extra="forbid")
_MAX_IDENT_BYTES = 63


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
    def _column_names(self) -> WarehouseTable:
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
        if self.key:
            clash = _clashes(*_columns(tuple(self.key), self.columns))
            if clash:
                raise ValueError(f"key field(s) {clash} clash with system or configured columns")
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


def _columns(
    key_fields: tuple[str, ...], columns: dict[str, ColumnType | WarehouseColumn]
) -> tuple[tuple[Column, ...], tuple[Column, ...]]:
    """(key columns, other configured columns): a key field listed in ``columns`` takes its type and name."""
    configured = dict(columns)
    key_cols = []
    for f in key_fields:
        col = configured.pop(f, None)
        key_cols.append(Column(column_name(f, col) if col else f, column_type(col) if col else "text", (f,)))
    cols = tuple(Column(column_name(p, c), column_type(c), tuple(p.split("."))) for p, c in configured.items())
    return tuple(key_cols), cols


def _clashes(key_cols: tuple[Column, ...], cols: tuple[Column, ...]) -> list[str]:
    """Column names that the key gives twice or shares with a system or configured column."""
    names = [c.name for c in key_cols + cols]
    return sorted({n for n in names if n in SYSTEM_COLUMNS or names.count(n) > 1})


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
    key_cols, cols = _columns(key_fields, cfg.columns)
    clash = _clashes(key_cols, cols)
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
