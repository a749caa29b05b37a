"""The PostgreSQL backend of the warehouse sink (psycopg 3, imported on first connect).

Per merge, in one transaction: ``COPY`` the rows into the table's temporary staging table (one
per table and connection, created once; ``ON COMMIT DELETE ROWS`` empties it), then the guarded
upsert and, for hard deletes, the guarded delete (SQL text in ``sql.py``). Errors are mapped by
SQLSTATE: data errors (classes 22, 23, 54) → :class:`RowsRejected`, connection and concurrency
failures → retriable, authentication, missing database and permissions → fatal. Messages never
carry the DSN or a value, and psycopg's exception is dropped at this boundary — neither the cause
nor the context of the error raised — since its text quotes values (``DETAIL: Key (email)=(…)``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from streamproc.errors import FatalSinkError, RetriableSinkError
from streamproc.sinks.warehouse.backend import DSN_HINT, RowsRejected, WarehouseBackend, check_key
from streamproc.sinks.warehouse.rows import TablePlan
from streamproc.sinks.warehouse.sql import (
    add_column_sqls,
    copy_stage_sql,
    create_schema_sql,
    create_stage_sql,
    create_table_sql,
    hard_delete_sql,
    stage_name,
    upsert_sql,
)
from streamproc.sinks.warehouse.types import POSTGRES

__all__ = ["PostgresBackend"]


def _pg_connect_error(exc: Exception, where: str) -> Exception:
    text = str(exc).lower()
    if (
        "password authentication failed" in text
        or "no pg_hba.conf entry" in text
        or ("role" in text and "does not exist" in text)
        or "authentication" in text
    ):
        return FatalSinkError(f"warehouse: PostgreSQL at {where} refused the login (authentication failed); {DSN_HINT}")
    if "database" in text and "does not exist" in text:
        return FatalSinkError(f"warehouse: the database named in the DSN does not exist at {where}; {DSN_HINT}")
    if "permission denied" in text:
        return FatalSinkError(f"warehouse: permission denied connecting to PostgreSQL at {where}; {DSN_HINT}")
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
        return FatalSinkError(f"warehouse: PostgreSQL authentication failed; {DSN_HINT}")
    if state == "3D000":
        return FatalSinkError(f"warehouse: the database named in the DSN does not exist; {DSN_HINT}")
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

    @property
    def connection(self) -> Any:
        """The open psycopg ``AsyncConnection``; ``None`` before :meth:`connect` and after :meth:`close`."""
        return self._conn

    async def connect(self) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return
        await self.close()
        try:
            params = conninfo_to_dict(self._dsn)
        except psycopg.Error:
            raise FatalSinkError(f"warehouse: the PostgreSQL DSN is not valid; {DSN_HINT}") from None
        self._where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}/{params.get('dbname', '')}"
        extra: dict[str, Any] = {} if "connect_timeout" in params else {"connect_timeout": self._timeout}
        failure: Exception | None = None
        try:
            self._conn = await psycopg.AsyncConnection.connect(
                self._dsn, autocommit=True, prepare_threshold=None, **extra
            )
        except psycopg.Error as exc:
            failure = _pg_connect_error(exc, self._where)
        if failure is not None:
            raise failure  # outside the handler: psycopg's exception is neither cause nor context

    async def _run(self, table: str, body: Callable[[Any], Any]) -> None:
        import psycopg

        await self.connect()
        try:
            async with self._conn.transaction(), self._conn.cursor() as cur:
                await body(cur)
            return
        except psycopg.Error as exc:
            failure = _pg_error(exc, table)  # value-free; psycopg's text quotes values (DETAIL: Key …)
        if self._conn.closed or self._conn.broken:
            await self.close()
        raise failure  # outside the handler: psycopg's exception is neither cause nor context

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
            existing = dict(await cur.fetchall())
            if not existing:
                await cur.execute(create_table_sql(table, POSTGRES))
                return
            check_key(table, {n for n, pk in existing.items() if pk})
            for col, sql in zip(table.columns, add_column_sqls(table, POSTGRES), strict=True):
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
            # closing a broken connection: nothing left to release
            with contextlib.suppress(Exception):
                await conn.close()
