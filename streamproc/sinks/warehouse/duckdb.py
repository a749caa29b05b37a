"""The DuckDB backend of the warehouse sink (the embedded demo default; duckdb imported on first
connect).

One connection, used from one dedicated thread because DuckDB calls block. Per merge, in one
transaction: insert the rows column-wise into a temporary staging table, then the guarded upsert
and, for hard deletes, the guarded delete (SQL text in ``sql.py``). Data and constraint errors →
:class:`RowsRejected`; permission, binder and parser errors → fatal; anything else → retriable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from streamproc.errors import FatalSinkError, RetriableSinkError
from streamproc.sinks.warehouse.backend import RowsRejected, WarehouseBackend, check_key
from streamproc.sinks.warehouse.rows import TablePlan
from streamproc.sinks.warehouse.sql import (
    add_column_sqls,
    create_schema_sql,
    create_stage_sql,
    create_table_sql,
    hard_delete_sql,
    insert_stage_sql,
    upsert_sql,
)
from streamproc.sinks.warehouse.types import DUCKDB

__all__ = ["DuckDBBackend"]


def _duck_error(exc: Exception, table: str) -> Exception:
    import duckdb

    what = type(exc).__name__
    if isinstance(exc, (duckdb.DataError, duckdb.IntegrityError)):
        return RowsRejected(what)
    if isinstance(exc, duckdb.PermissionException):
        return FatalSinkError(f"warehouse: DuckDB permission denied for {table}")
    if isinstance(exc, duckdb.BinderException):
        return FatalSinkError(
            f"warehouse: DuckDB rejected the statement for {table} ({what}); is its primary key different?"
        )
    if isinstance(exc, (duckdb.ParserException, duckdb.NotSupportedError)):
        return FatalSinkError(f"warehouse: DuckDB rejected the statement for {table} ({what})")
    return RetriableSinkError(f"warehouse: DuckDB {what} while writing {table}")


class DuckDBBackend(WarehouseBackend):
    """One DuckDB connection, used from one dedicated thread (DuckDB calls block)."""

    dialect = DUCKDB

    def __init__(self, path: str) -> None:
        self.path = path
        self._con: Any = None
        self._executor: ThreadPoolExecutor | None = None

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warehouse-duckdb")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def connect(self) -> None:
        if self._con is None:
            await self._call(self._connect)

    def _connect(self) -> None:
        import duckdb

        if self.path != ":memory:":
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError:
                raise FatalSinkError("warehouse: cannot create the directory of the DuckDB file") from None
        try:
            self._con = duckdb.connect(self.path)
        except duckdb.Error as exc:
            raise RetriableSinkError(
                f"warehouse: cannot open the DuckDB file ({type(exc).__name__}; locked by another process?)"
            ) from None

    def _tx(self, table: str, statements: Callable[[Any], None]) -> None:
        import duckdb

        con = self._con
        try:
            con.execute("BEGIN TRANSACTION")
            statements(con)
            con.execute("COMMIT")
        except duckdb.Error as exc:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            if isinstance(exc, duckdb.FatalException):
                self._con = None
            failure = _duck_error(exc, table)  # DuckDB's text quotes values (Duplicate key "id: …")
        else:
            return
        raise failure  # outside the handler: DuckDB's exception is neither cause nor context

    async def ensure(self, schema: str, table: TablePlan | None) -> None:
        def statements(con: Any) -> None:
            con.execute(create_schema_sql(schema))
            if table is None:
                return
            pk = con.execute(
                "SELECT constraint_column_names FROM duckdb_constraints() "
                "WHERE schema_name = ? AND table_name = ? AND constraint_type = 'PRIMARY KEY'",
                [table.schema, table.name],
            ).fetchone()
            if pk is not None:
                check_key(table, set(pk[0]))
            con.execute(create_table_sql(table, DUCKDB))
            for sql in add_column_sqls(table, DUCKDB):
                con.execute(sql)

        await self.connect()
        await self._call(self._tx, table.display if table else schema, statements)

    async def merge(self, table: TablePlan, rows: Sequence[tuple[Any, ...]]) -> None:
        columns = [list(col) for col in zip(*rows, strict=True)]

        def statements(con: Any) -> None:
            con.execute(create_stage_sql(table, DUCKDB))
            con.execute(insert_stage_sql(table, DUCKDB), columns)
            con.execute(upsert_sql(table))
            if table.deletes == "hard":
                con.execute(hard_delete_sql(table))

        await self.connect()
        await self._call(self._tx, table.display, statements)

    async def close(self) -> None:
        con, self._con = self._con, None
        if con is not None:
            await self._call(con.close)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
