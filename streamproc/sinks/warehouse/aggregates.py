"""The aggregate warehouse sink: one table ``<schema>.agg_<name>`` per aggregation, written from
``<prefix>.aggregates.<name>`` (records from :func:`streamproc.sinks.aggregates.aggregate_record`).

Table layout::

    <group fields>   text, PRIMARY KEY with window_start (a group value as text: a string as
                     itself, anything else as canonical JSON, so no key column is ever null)
    window_start     timestamptz, PRIMARY KEY
    window_end       timestamptz
    final, revision, closed_by, late_changes, incomplete, skipped
    <metrics>        count / count_distinct bigint, sum / avg numeric, min / max / top_k jsonb
    _doc             the whole result value; _src_position = [revision]; _src_ts NULL

The write is the entity sink's (:class:`~streamproc.sinks.warehouse.sink.WarehouseSink`): per
batch the highest revision per key, staged, and merged with the guarded upsert, so a lower
revision never overwrites a higher one and a redelivered result changes nothing. Only the planner
differs (:class:`AggregatePlanner`, pure).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from streamproc.sinks.aggregates import WINDOW_START, AggregateTable
from streamproc.sinks.base import SinkRecord
from streamproc.sinks.warehouse.plan import WarehousePlanner, check_ident
from streamproc.sinks.warehouse.rows import SYSTEM_COLUMNS, Column, PlannedRow, RecordRejected, TablePlan, build_row
from streamproc.sinks.warehouse.sink import WarehouseSink
from streamproc.sinks.warehouse.types import Dialect

if TYPE_CHECKING:
    from streamproc.config.settings import WarehouseSettings
    from streamproc.config.sink_warehouse import WarehouseSpec
    from streamproc.sinks.warehouse.backend import WarehouseBackend

__all__ = ["AggregatePlanner", "AggregateWarehouseSink", "aggregate_table_plan", "METRIC_TYPES"]

#: The column type of each metric kind.
METRIC_TYPES = {
    "count": "bigint",
    "count_distinct": "bigint",
    "sum": "numeric",
    "avg": "numeric",
    "min": "jsonb",
    "max": "jsonb",
    "top_k": "jsonb",
}

_RESULT_COLUMNS = (
    Column("window_end", "timestamptz", ("window_end",)),
    Column("final", "boolean", ("final",)),
    Column("revision", "bigint", ("revision",)),
    Column("closed_by", "text", ("closed_by",)),
    Column("late_changes", "bigint", ("late_changes",)),
    Column("incomplete", "bigint", ("incomplete",)),
    Column("skipped", "bigint", ("skipped",)),
)


def aggregate_table_plan(schema: str, agg: AggregateTable) -> TablePlan:
    """The table of one aggregation; :class:`RecordRejected` when a name is unusable or clashes."""
    key = tuple(Column(f, "text", (f,)) for f in agg.group_by) + (Column(WINDOW_START, "timestamptz", (WINDOW_START,)),)
    metrics = tuple(Column(m, METRIC_TYPES.get(kind, "jsonb"), ("metrics", m)) for m, kind in agg.metrics)
    columns = _RESULT_COLUMNS + metrics
    names = [c.name for c in key + columns]
    try:
        check_ident(agg.entity, "table name")
        for n in names:
            check_ident(n, "column name")
    except ValueError as exc:
        raise RecordRejected(f"aggregation {agg.aggregation!r}: {exc}", "invalid") from None
    clash = sorted({n for n in names if n in SYSTEM_COLUMNS or names.count(n) > 1})
    if clash:
        raise RecordRejected(
            f"table {schema}.{agg.entity}: group fields or metric names {clash} clash with the result or system "
            "columns; rename the metric",
            "invalid",
        )
    return TablePlan(agg.entity, schema, agg.entity, key, columns, "soft")


class AggregatePlanner(WarehousePlanner):
    """Rows of aggregate results: one fixed table per configured aggregation."""

    def __init__(self, spec: WarehouseSpec, dialect: Dialect, tables: Iterable[AggregateTable]) -> None:
        super().__init__(spec, dialect)
        self.aggregates = {t.entity: t for t in tables}

    def wants(self, entity: str) -> bool:
        return entity in self.aggregates

    def configured_tables(self) -> list[TablePlan]:
        return [self.table_for(e, ()) for e in self.aggregates]

    def table_for(self, entity: str, key_fields: tuple[str, ...]) -> TablePlan:
        known = self._tables.get(entity)
        if known is None:
            agg = self.aggregates.get(entity)
            if agg is None:
                raise RecordRejected(f"{entity!r} is not an aggregation written to the warehouse", "permanent")
            known = self._tables[entity] = aggregate_table_plan(self.spec.db_schema, agg)
        return known

    def row(self, record: SinkRecord) -> PlannedRow:
        table = self.table_for(record.entity, ())
        if set(record.key) != set(table.key_fields):
            raise RecordRejected(
                f"table {table.display}: the result's group fields differ from the aggregation's group_by",
                "invalid",
                table.display,
            )
        return build_row(table, record, self.dialect)


class AggregateWarehouseSink(WarehouseSink):
    """Writes aggregate results to ``agg_<name>`` tables (see the module docstring)."""

    name = "agg-warehouse"

    def __init__(
        self,
        spec: WarehouseSpec,
        settings: WarehouseSettings,
        tables: Iterable[AggregateTable],
        *,
        backend: WarehouseBackend | None = None,
    ) -> None:
        self.tables = list(tables)
        super().__init__(spec, settings, backend=backend)

    def new_planner(self) -> WarehousePlanner:
        return AggregatePlanner(self.spec, self.dialect, self.tables)
