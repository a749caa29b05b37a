"""The BI warehouse sink: PostgreSQL (psycopg 3, COPY + merge) or DuckDB (embedded demo default).

Per batch and table, in one transaction: load the rows into a temporary staging table (PostgreSQL:
one per table and connection, created once and emptied at every commit), keep the
newest position per key (``DISTINCT ON``), merge with ``INSERT … ON CONFLICT (key) DO UPDATE …
WHERE target._src_position < EXCLUDED._src_position`` (hard deletes: ``DELETE … USING`` under the
same guard). A retried or redelivered batch therefore changes nothing. The write is durable when
the transaction commits. Tables and rows come from :mod:`warehouse_plan` and
:mod:`warehouse_rows`, conversion from :mod:`warehouse_types`, SQL text from :mod:`warehouse_sql`.

A row the database rejects (a data error) is isolated by bisecting the table's rows into
smaller transactions; the single bad record goes to ``batch.fail`` and the rest commit.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from streamproc.config.settings import WarehouseSettings
from streamproc.errors import FatalSinkError, RetriableSinkError
from streamproc.sinks.base import Sink, SinkBatch, SinkRecord
from streamproc.sinks.warehouse.plan import WarehousePlanner, WarehouseSpec
from streamproc.sinks.warehouse.rows import PlannedRow, RecordRejected, TablePlan, row_json
from streamproc.sinks.warehouse.sql import (
    add_column_sqls,
    copy_stage_sql,
    create_schema_sql,
    create_stage_sql,
    create_table_sql,
    hard_delete_sql,
    insert_stage_sql,
    stage_name,
    upsert_sql,
)
from streamproc.sinks.warehouse.types import DUCKDB, POSTGRES, Dialect

__all__ = ["WarehouseSink", "WarehouseBackend", "PostgresBackend", "DuckDBBackend", "RowsRejected", "backend_for"]

_DSN_HINT = "check STREAMPROC_WAREHOUSE__DSN"


class RowsRejected(Exception):
    """The database refused the data of a set of rows (SQLSTATE class 22/23/54 or alike)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class WarehouseBackend(abc.ABC):
    """One database connection. Methods raise RetriableSinkError, FatalSinkError or RowsRejected."""

    dialect: Dialect

    @abc.abstractmethod
    async def connect(self) -> None:
        """Connect unless connected (also reconnects after a lost connection)."""

    @abc.abstractmethod
    async def ensure(self, schema: str, table: TablePlan | None) -> None:
        """Create the schema and, if given, the table and its missing columns (one transaction)."""

    @abc.abstractmethod
    async def merge(self, table: TablePlan, rows: Sequence[tuple[Any, ...]]) -> None:
        """Load and merge ``rows`` (``table.load_columns`` order) in one transaction."""

    @abc.abstractmethod
    async def close(self) -> None: ...


# ---------------------------------------------------------------------------------- PostgreSQL
def _pg_connect_error(exc: Exception, where: str) -> Exception:
    text = str(exc).lower()
    if (
        "password authentication failed" in text
        or "no pg_hba.conf entry" in text
        or ("role" in text and "does not exist" in text)
        or "authentication" in text
    ):
        return FatalSinkError(
            f"warehouse: PostgreSQL at {where} refused the login (authentication failed); {_DSN_HINT}"
        )
    if "database" in text and "does not exist" in text:
        return FatalSinkError(f"warehouse: the database named in the DSN does not exist at {where}; {_DSN_HINT}")
    if "permission denied" in text:
        return FatalSinkError(f"warehouse: permission denied connecting to PostgreSQL at {where}; {_DSN_HINT}")
    return RetriableSinkError(f"warehouse: cannot connect to PostgreSQL at {where} (unreachable or not ready)")


_PG_RETRIABLE = {"57P01", "57P02", "57P03", "40001", "40P01", "55P03", "57014", "XX000"}


def _pg_error(exc: Exception, table: str) -> Exception:
    import psycopg

    state = getattr(exc, "sqlstate", None) or ""
    what = f"SQLSTATE {state} ({type(exc).__name__})" if state else type(exc).__name__
    cls = state[:2]
    if cls in ("22", "23", "54"):
        return RowsRejected(what)
    if cls in ("08", "53", "58") or state in _PG_RETRIABLE:
        return RetriableSinkError(f"warehouse: PostgreSQL {what} while writing {table}")
    if cls == "28":
        return FatalSinkError(f"warehouse: PostgreSQL authentication failed; {_DSN_HINT}")
    if state == "3D000":
        return FatalSinkError(f"warehouse: the database named in the DSN does not exist; {_DSN_HINT}")
    if state == "42501":
        return FatalSinkError(
            f"warehouse: permission denied on {table}: the DSN's user needs CREATE on the database (or a "
            "pre-created schema), USAGE and CREATE on the schema, TEMP on the database, and SELECT, INSERT, "
            "UPDATE, DELETE on the table (ownership to add columns)"
        )
    if state == "42P10":
        return FatalSinkError(f"warehouse: table {table} exists with a primary key other than the record key fields")
    if state in ("42P01", "42703", "3F000"):
        return RetriableSinkError(f"warehouse: {table} changed underneath ({what}); recreating")
    if not state and isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return RetriableSinkError(f"warehouse: lost the PostgreSQL connection while writing {table}")
    if isinstance(exc, (psycopg.ProgrammingError, psycopg.NotSupportedError)):
        return FatalSinkError(f"warehouse: PostgreSQL rejected the statement for {table}: {what}")
    return RetriableSinkError(f"warehouse: PostgreSQL {what} while writing {table}")


class PostgresBackend(WarehouseBackend):
    dialect = POSTGRES

    def __init__(self, dsn: str, connect_timeout: int = 10) -> None:
        self._dsn = dsn
        self._timeout = connect_timeout
        self._conn: Any = None
        self._where = "the configured server"
        self._stages: set[str] = set()  # staging tables of this connection, added once committed

    async def connect(self) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return
        await self.close()
        try:
            params = conninfo_to_dict(self._dsn)
        except psycopg.Error:
            raise FatalSinkError(f"warehouse: the PostgreSQL DSN is not valid; {_DSN_HINT}") from None
        self._where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}/{params.get('dbname', '')}"
        extra = {} if "connect_timeout" in params else {"connect_timeout": self._timeout}
        try:
            self._conn = await psycopg.AsyncConnection.connect(
                self._dsn, autocommit=True, prepare_threshold=None, **extra
            )
        except psycopg.Error as exc:
            raise _pg_connect_error(exc, self._where) from exc

    async def _run(self, table: str, body: Callable[[Any], Any]) -> None:
        import psycopg

        await self.connect()
        try:
            async with self._conn.transaction(), self._conn.cursor() as cur:
                await body(cur)
        except psycopg.Error as exc:
            if self._conn.closed or self._conn.broken:
                await self.close()
            raise _pg_error(exc, table) from exc

    async def ensure(self, schema: str, table: TablePlan | None) -> None:
        async def body(cur: Any) -> None:
            target = table.display if table else schema
            await cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"streamproc.warehouse:{target}"])
            await cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema])
            if await cur.fetchone() is None:
                await cur.execute(create_schema_sql(schema))
            if table is None:
                return
            await cur.execute(
                "SELECT a.attname, coalesce(i.indisprimary, false) FROM pg_attribute a "
                "LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY(i.indkey) "
                "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
                [table.qualified],
            )
            existing = {name: pk for name, pk in await cur.fetchall()}
            if not existing:
                await cur.execute(create_table_sql(table, POSTGRES))
                return
            _check_key(table, {n for n, pk in existing.items() if pk})
            for col, sql in zip(table.columns, add_column_sqls(table, POSTGRES)):
                if col.name not in existing:
                    await cur.execute(sql)

        await self._run(table.display if table else schema, body)

    async def merge(self, table: TablePlan, rows: Sequence[tuple[Any, ...]]) -> None:
        stage = stage_name(table)
        created = False

        async def body(cur: Any) -> None:
            nonlocal created
            if stage not in self._stages:  # checked once connected: a reconnect empties the set
                await cur.execute(create_stage_sql(table, POSTGRES, stage))
                created = True
            async with cur.copy(copy_stage_sql(table, stage)) as copy:
                for row in rows:
                    await copy.write_row(row)
            await cur.execute(upsert_sql(table, stage))
            if table.deletes == "hard":
                await cur.execute(hard_delete_sql(table, stage))

        try:
            await self._run(table.display, body)
        except RowsRejected:
            raise
        except Exception:
            self._stages.discard(stage)  # not sure it exists (a pooler may switch sessions): recreate
            raise
        if created:  # only now: a rolled-back transaction took the staging table with it
            self._stages.add(stage)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        self._stages.clear()  # temporary tables end with their session; a reconnect starts empty
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # closing a broken connection: nothing left to release
                pass


def _check_key(table: TablePlan, existing_pk: set[str]) -> None:
    wanted = {c.name for c in table.key}
    if existing_pk != wanted:
        raise FatalSinkError(
            f"warehouse: table {table.display} exists with primary key {sorted(existing_pk)}, "
            f"but entity {table.entity!r} is keyed by {sorted(wanted)}"
        )


# -------------------------------------------------------------------------------------- DuckDB
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
            except OSError as exc:
                raise FatalSinkError("warehouse: cannot create the directory of the DuckDB file") from exc
        try:
            self._con = duckdb.connect(self.path)
        except duckdb.Error as exc:
            raise RetriableSinkError(
                f"warehouse: cannot open the DuckDB file ({type(exc).__name__}; locked by another process?)"
            ) from exc

    def _tx(self, table: str, statements: Callable[[Any], None]) -> None:
        import duckdb

        con = self._con
        try:
            con.execute("BEGIN TRANSACTION")
            statements(con)
            con.execute("COMMIT")
        except duckdb.Error as exc:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass
            if isinstance(exc, duckdb.FatalException):
                self._con = None
            raise _duck_error(exc, table) from exc

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
                _check_key(table, set(pk[0]))
            con.execute(create_table_sql(table, DUCKDB))
            for sql in add_column_sqls(table, DUCKDB):
                con.execute(sql)

        await self.connect()
        await self._call(self._tx, table.display if table else schema, statements)

    async def merge(self, table: TablePlan, rows: Sequence[tuple[Any, ...]]) -> None:
        columns = [list(col) for col in zip(*rows)]

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


def backend_for(dsn: str) -> WarehouseBackend:
    """``duckdb://<path>`` (``duckdb:///abs/file.duckdb``, ``duckdb://:memory:``) or a libpq DSN."""
    if dsn.startswith("duckdb://"):
        return DuckDBBackend(dsn[len("duckdb://") :] or ":memory:")
    return PostgresBackend(dsn)


# ---------------------------------------------------------------------------------------- sink
class WarehouseSink(Sink):
    """Writes each wanted entity to its warehouse table; see the module docstring."""

    name = "warehouse"

    def __init__(self, spec: WarehouseSpec, settings: WarehouseSettings) -> None:
        self.spec = spec
        dsn = settings.dsn.get_secret_value() if settings.dsn is not None else None
        self._backend = backend_for(dsn) if dsn else None
        self.dialect = self._backend.dialect if self._backend else POSTGRES
        self._planner = WarehousePlanner(spec, self.dialect)
        self._ensured: set[TablePlan] = set()

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
            raise RetriableSinkError(f"warehouse: creating {what} failed ({exc.what})") from exc
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
        return groups

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
        planner = WarehousePlanner(self.spec, self.dialect)
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
