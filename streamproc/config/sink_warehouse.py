"""The ``sinks.warehouse`` section of config/pipelines.yaml: :class:`WarehouseSpec`, one
:class:`WarehouseTable` per entity and its :class:`WarehouseColumn` entries.

The sink that reads them is ``streamproc.sinks.warehouse.sink``; the identifier and column rules
checked here are those of its planner (``streamproc.sinks.warehouse.plan``), so a table the
configuration accepts is a table the sink can create.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streamproc.sinks.warehouse.plan import check_ident, column_clashes, column_name, split_columns
from streamproc.sinks.warehouse.rows import SYSTEM_COLUMNS
from streamproc.sinks.warehouse.types import ColumnType

__all__ = ["WarehouseColumn", "WarehouseTable", "WarehouseSpec"]

_STRICT = ConfigDict(extra="forbid")


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
        return None if v is None else check_ident(v, "table name")

    @model_validator(mode="after")
    def _column_names(self) -> WarehouseTable:
        seen: dict[str, str] = {}
        for path, col in self.columns.items():
            if not path or any(not seg or "[" in seg or seg == "*" for seg in path.split(".")):
                raise ValueError(f"column path {path!r}: dotted segments only (no arrays, no wildcards)")
            name = column_name(path, col)
            check_ident(name, f"column name of {path!r}")
            if name in SYSTEM_COLUMNS:
                raise ValueError(f"column name {name!r} is reserved for the system columns")
            if name in seen:
                raise ValueError(f"columns {seen[name]!r} and {path!r} both map to column {name!r}")
            seen[name] = path
        for field in self.key or ():
            check_ident(field, "key field")
        if self.key:
            clash = column_clashes(*split_columns(tuple(self.key), self.columns))
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
        return check_ident(v, "schema")

    def table_config(self, entity: str) -> WarehouseTable | None:
        """The entity's table config; ``None`` when the sink does not write this entity."""
        if self.entities == "all":
            return WarehouseTable()
        return self.entities.get(entity)
