"""The BI warehouse sink: PostgreSQL (psycopg 3, COPY + merge) or DuckDB (embedded demo default).

Per batch and table, in one transaction: keep one row per key — the newest position, and of
equal positions the later in the batch (:func:`newest_per_key`) —, load them into a temporary
staging table (PostgreSQL: one per table and connection, created once and emptied at every
commit), merge with ``INSERT … ON CONFLICT (key) DO UPDATE … WHERE`` the target's ``_src_position`` is
older, or equal with other content (hard deletes: ``DELETE … USING`` where it is older or equal).
An older position never overwrites a newer one; an equal one with other content does, because
ingest drops true duplicates: two events of one key with equal positions are successive changes of
one source transaction, in partition (= commit) order. A retried or redelivered batch changes
nothing. The write is durable when
the transaction commits. Tables and rows come from ``plan.py`` and ``rows.py``, conversion from
``types.py``, SQL text from ``sql.py``, the database connections from ``backend.py``
(``postgres.py``, ``duckdb.py``).

A row the database rejects (a data error) is isolated by bisecting the table's rows into
smaller transactions; the single bad record goes to ``batch.fail`` and the rest commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamproc.errors import FatalSinkError, RetriableSinkError
from streamproc.jsonutil import dumps_str
from streamproc.sinks.base import Sink, SinkBatch, SinkRecord
from streamproc.sinks.warehouse.backend import RowsRejected, WarehouseBackend, backend_for
from streamproc.sinks.warehouse.plan import WarehousePlanner
from streamproc.sinks.warehouse.rows import PlannedRow, RecordRejected, TablePlan, row_json
from streamproc.sinks.warehouse.types import POSTGRES

if TYPE_CHECKING:
    from streamproc.config.settings import WarehouseSettings
    from streamproc.config.sink_warehouse import WarehouseSpec

__all__ = ["WarehouseSink", "newest_per_key"]


def newest_per_key(rows: list[PlannedRow]) -> list[PlannedRow]:
    """One row per key of ``rows`` (one table, batch order): the highest position, and of equal
    positions the later row. Kept in first-seen key order."""
    newest: dict[str, PlannedRow] = {}
    for row in rows:
        key = row_key(row.record)
        held = newest.get(key)
        if held is None or held.record.position <= row.record.position:
            newest[key] = row
    return list(newest.values())


def row_key(record: SinkRecord) -> str:
    """The identity of a record's row: its key fields, canonically encoded."""
    return dumps_str(sorted(record.key.items()))


class WarehouseSink(Sink):
    """Writes each wanted entity to its warehouse table; see the module docstring.

    The backend is chosen by ``settings.dsn`` (:func:`backend_for`) unless ``backend`` is given.
    """

    name = "warehouse"

    def __init__(
        self, spec: WarehouseSpec, settings: WarehouseSettings, *, backend: WarehouseBackend | None = None
    ) -> None:
        self.spec = spec
        dsn = settings.dsn.get_secret_value() if settings.dsn is not None else None
        self._backend = backend if backend is not None else backend_for(dsn) if dsn else None
        self.dialect = self._backend.dialect if self._backend else POSTGRES
        self._planner = self.new_planner()
        self._ensured: set[TablePlan] = set()

    def new_planner(self) -> WarehousePlanner:
        """A fresh planner of this sink's tables (``write`` keeps one; ``plan`` starts its own)."""
        return WarehousePlanner(self.spec, self.dialect)

    def _require_backend(self) -> WarehouseBackend:
        if self._backend is None:
            raise FatalSinkError("warehouse: no DSN configured; set STREAMPROC_WAREHOUSE__DSN")
        return self._backend

    def wants(self, record: SinkRecord) -> bool:
        return self._planner.wants(record.entity)

    async def start(self) -> None:
        await self._ensure(None)
        try:
            tables = self._planner.configured_tables()
        except RecordRejected as exc:  # the config validation catches these; reasons name no values
            raise FatalSinkError(f"warehouse: {exc.reason}") from None
        for table in tables:
            await self._ensure(table)

    async def stop(self) -> None:
        if self._backend is not None:
            await self._backend.close()

    async def _ensure(self, table: TablePlan | None) -> None:
        """Create the schema and, if given, the table (once per table until a write fails)."""
        if table in self._ensured:
            return
        try:
            await self._require_backend().ensure(self.spec.db_schema, table)
        except RowsRejected as exc:
            what = table.display if table else self.spec.db_schema
            raise RetriableSinkError(f"warehouse: creating {what} failed ({exc.what})") from None
        if table is not None:
            self._ensured.add(table)

    def _group(
        self, records: list[SinkRecord], planner: WarehousePlanner, reject: Callable[[SinkRecord, RecordRejected], None]
    ) -> dict[TablePlan, list[PlannedRow]]:
        groups: dict[TablePlan, list[PlannedRow]] = {}
        for record in records:
            if not planner.wants(record.entity):
                continue
            try:
                row = planner.row(record)
            except RecordRejected as exc:
                reject(record, exc)
                continue
            groups.setdefault(row.table, []).append(row)
        return {table: newest_per_key(rows) for table, rows in groups.items()}

    async def write(self, batch: SinkBatch) -> None:
        groups = self._group(batch.records, self._planner, lambda r, e: batch.fail(r, e.reason, e.error_class))
        if groups:
            await self._write_groups(groups, batch.fail)

    async def _write_groups(
        self, groups: dict[TablePlan, list[PlannedRow]], fail: Callable[[SinkRecord, str, str], None]
    ) -> None:
        backend = self._require_backend()
        for table, rows in groups.items():
            try:
                await self._ensure(table)  # creates the schema too, in the same transaction
                await self._merge(backend, table, rows, fail)
            except (RetriableSinkError, FatalSinkError):
                self._ensured.discard(table)
                raise

    async def _merge(
        self,
        backend: WarehouseBackend,
        table: TablePlan,
        rows: list[PlannedRow],
        fail: Callable[[SinkRecord, str, str], None],
    ) -> None:
        pending = [rows]
        while pending:
            part = pending.pop()
            try:
                await backend.merge(table, [r.values for r in part])
            except RowsRejected as exc:
                if len(part) == 1:
                    fail(
                        part[0].record,
                        f"table {table.display}: the database rejected the row ({exc.what})",
                        "permanent",
                    )
                else:
                    mid = len(part) // 2
                    pending += [part[mid:], part[:mid]]

    def plan(self, records: list[SinkRecord]) -> list[dict[str, Any]]:
        planner = self.new_planner()
        actions: list[dict[str, Any]] = []

        def reject(record: SinkRecord, exc: RecordRejected) -> None:
            actions.append(
                {
                    "kind": "warehouse",
                    "table": exc.table,
                    "op": "fail",
                    "reason": exc.reason,
                    "error_class": exc.error_class,
                }
            )

        for record in records:
            groups = self._group([record], planner, reject)
            for table, rows in groups.items():
                actions += [{"kind": "warehouse", "table": table.display, "op": r.op, "row": row_json(r)} for r in rows]
        return actions
