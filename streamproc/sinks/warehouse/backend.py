"""The database side of the warehouse sink: :class:`WarehouseBackend`, one connection of one
dialect, and :func:`backend_for`, which picks PostgreSQL (``postgres.py``) or DuckDB
(``duckdb.py``) by the DSN.

A backend's methods raise :class:`RetriableSinkError`, :class:`FatalSinkError`, or
:class:`RowsRejected` when the database refuses the data of the rows it was given (the sink then
bisects them to find the one bad row).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from streamproc.errors import FatalSinkError
from streamproc.sinks.warehouse.rows import TablePlan
from streamproc.sinks.warehouse.types import Dialect

__all__ = ["DSN_HINT", "RowsRejected", "WarehouseBackend", "check_key", "backend_for"]

#: The hint of every message about the connection settings.
DSN_HINT = "check STREAMPROC_WAREHOUSE__DSN"


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
    async def close(self) -> None:
        """Release the connection; a later call connects again."""


def check_key(table: TablePlan, existing_pk: set[str]) -> None:
    """:class:`FatalSinkError` unless an existing table's primary key is the planned key."""
    wanted = {c.name for c in table.key}
    if existing_pk != wanted:
        raise FatalSinkError(
            f"warehouse: table {table.display} exists with primary key {sorted(existing_pk)}, "
            f"but entity {table.entity!r} is keyed by {sorted(wanted)}"
        )


def backend_for(dsn: str) -> WarehouseBackend:
    """``duckdb://<path>`` (``duckdb:///abs/file.duckdb``, ``duckdb://:memory:``) or a libpq DSN."""
    # imported here: both backend modules import this one
    from streamproc.sinks.warehouse.duckdb import DuckDBBackend
    from streamproc.sinks.warehouse.postgres import PostgresBackend

    if dsn.startswith("duckdb://"):
        return DuckDBBackend(dsn[len("duckdb://") :] or ":memory:")
    return PostgresBackend(dsn)
