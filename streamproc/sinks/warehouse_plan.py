"""Pure planning of the warehouse sink: configuration, table and column mapping, rows.
No I/O here (psycopg / DuckDB live in ``warehouse.py``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["WarehouseTable", "WarehouseSpec"]

_STRICT = ConfigDict(extra="forbid")

ColumnType = Literal["text", "bigint", "integer", "double", "numeric", "boolean", "timestamptz", "date", "jsonb"]


class WarehouseTable(BaseModel):
    model_config = _STRICT

    table: str | None = Field(default=None, description="Default: the entity name.")
    columns: dict[str, ColumnType] = Field(
        default_factory=dict, description="Typed columns: document path (dotted) → SQL type."
    )
    deletes: Literal["soft", "hard"] = "soft"


class WarehouseSpec(BaseModel):
    model_config = _STRICT

    db_schema: str = Field(default="public", alias="schema")
    entities: dict[str, WarehouseTable] | Literal["all"] = "all"
