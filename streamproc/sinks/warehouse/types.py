"""Pure value conversion of the warehouse sink: column types, the two dialects, :func:`convert`.

Every configured column has a :data:`ColumnType`; :func:`convert` turns a document value into the
Python value the database driver stores for it (jsonb as JSON text, timestamps as UTC datetimes,
…) and raises :class:`ConversionError` naming the problem, never the value. :class:`Dialect`
holds what differs between PostgreSQL and DuckDB (type names, numeric limits, NUL in JSON).
:func:`encode_position` turns a source position into the integer array of ``_src_position``.
No I/O here; the rows are built in ``rows.py``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from streamproc.jsonutil import dumps_str
from streamproc.sinks.base import utc_from_ms

__all__ = [
    "ColumnType",
    "Dialect",
    "POSTGRES",
    "DUCKDB",
    "ConversionError",
    "convert",
    "encode_position",
]

ColumnType = Literal[
    "text",
    "bigint",
    "integer",
    "double",
    "numeric",
    "boolean",
    "timestamptz",
    "timestamp",
    "date",
    "jsonb",
    "uuid",
]


# ----------------------------------------------------------------------------------- dialects
@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the PostgreSQL and the DuckDB warehouse."""

    name: str
    types: dict[str, str]
    position_type: str
    doc_type: str
    numeric_max_integer_digits: int | None
    json_rejects_nul: bool


POSTGRES = Dialect(
    name="postgres",
    types={
        "text": "text",
        "bigint": "bigint",
        "integer": "integer",
        "double": "double precision",
        "numeric": "numeric",
        "boolean": "boolean",
        "timestamptz": "timestamptz",
        "timestamp": "timestamp",
        "date": "date",
        "jsonb": "jsonb",
        "uuid": "uuid",
    },
    position_type="numeric[]",
    doc_type="jsonb",
    numeric_max_integer_digits=None,
    json_rejects_nul=True,
)

DUCKDB = Dialect(
    name="duckdb",
    types={
        "text": "VARCHAR",
        "bigint": "BIGINT",
        "integer": "INTEGER",
        "double": "DOUBLE",
        "numeric": "DECIMAL(38,10)",
        "boolean": "BOOLEAN",
        "timestamptz": "TIMESTAMPTZ",
        "timestamp": "TIMESTAMP",
        "date": "DATE",
        "jsonb": "JSON",
        "uuid": "UUID",
    },
    position_type="HUGEINT[]",
    doc_type="JSON",
    numeric_max_integer_digits=28,
    json_rejects_nul=False,
)


# --------------------------------------------------------------------------------- conversion
class ConversionError(ValueError):
    """A value does not fit a column type; the message names the problem, never the value."""


_INT_RE = re.compile(r"[+-]?\d+")
_TRUE = frozenset({"true", "t", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0"})
_INT_BITS = {"bigint": 63, "integer": 31}


def _to_text(v: Any, d: Dialect) -> str:
    if isinstance(v, str):
        s = v
    elif isinstance(v, bool):
        s = "true" if v else "false"
    elif isinstance(v, (int, float)):
        s = repr(v)
    else:
        s = dumps_str(v)
    if "\x00" in s:
        raise ConversionError("contains a NUL character")
    return s


def _to_int(v: Any, bits: int) -> int:
    if isinstance(v, bool):
        raise ConversionError("is a boolean")
    if isinstance(v, float):
        if not v.is_integer():
            raise ConversionError("is not integral")
        v = int(v)
    elif isinstance(v, str):
        if not _INT_RE.fullmatch(v.strip()):
            raise ConversionError("is not an integer")
        v = int(v.strip())
    if not isinstance(v, int):
        raise ConversionError("is not an integer")
    if not -(1 << bits) <= v < (1 << bits):
        raise ConversionError("is out of range")
    return v


def _to_double(v: Any, d: Dialect) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ConversionError("is not a number")
    try:
        f = float(v)
    except (ValueError, OverflowError):
        raise ConversionError("is not a number") from None
    if f != f or f in (float("inf"), float("-inf")):
        raise ConversionError("is not a finite number")
    return f


def _to_numeric(v: Any, d: Dialect) -> Decimal:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ConversionError("is not a number")
    try:
        n = Decimal(repr(v) if isinstance(v, float) else str(v).strip())
    except InvalidOperation:
        raise ConversionError("is not a decimal number") from None
    if not n.is_finite():
        raise ConversionError("is not a finite number")
    limit = d.numeric_max_integer_digits
    if limit is not None and n != 0 and n.adjusted() + 1 > limit:
        raise ConversionError(f"has more than {limit} integer digits")
    return n


def _to_boolean(v: Any, d: Dialect) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
    raise ConversionError("is not a boolean")


def _parse_datetime(v: Any) -> datetime:
    if isinstance(v, bool):
        raise ConversionError("is not a timestamp")
    try:
        if isinstance(v, (int, float)):
            return utc_from_ms(v)
        if isinstance(v, str):
            dt = datetime.fromisoformat(v.strip())
            return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        pass
    raise ConversionError("is not an ISO 8601 timestamp or epoch milliseconds")


def _to_timestamptz(v: Any, d: Dialect) -> datetime:
    return _parse_datetime(v).astimezone(UTC)


def _to_timestamp(v: Any, d: Dialect) -> datetime:
    return _parse_datetime(v).astimezone(UTC).replace(tzinfo=None)


def _to_date(v: Any, d: Dialect) -> date:
    if isinstance(v, str):
        try:
            return date.fromisoformat(v.strip())
        except ValueError:
            pass
        try:
            dt = datetime.fromisoformat(v.strip())
        except ValueError:
            raise ConversionError("is not an ISO 8601 date") from None
        return (dt.astimezone(UTC) if dt.tzinfo else dt).date()
    raise ConversionError("is not an ISO 8601 date")


def _to_json(v: Any, d: Dialect) -> str:
    s = dumps_str(v)
    if d.json_rejects_nul and "\\u0000" in s:
        raise ConversionError("contains a NUL character, which PostgreSQL jsonb cannot store")
    return s


def _to_uuid(v: Any, d: Dialect) -> str:
    if isinstance(v, str):
        try:
            return str(uuid.UUID(v.strip()))
        except ValueError:
            pass
    raise ConversionError("is not a UUID")


_CONVERTERS: dict[str, Callable[[Any, Dialect], Any]] = {
    "text": _to_text,
    "bigint": lambda v, d: _to_int(v, _INT_BITS["bigint"]),
    "integer": lambda v, d: _to_int(v, _INT_BITS["integer"]),
    "double": _to_double,
    "numeric": _to_numeric,
    "boolean": _to_boolean,
    "timestamptz": _to_timestamptz,
    "timestamp": _to_timestamp,
    "date": _to_date,
    "jsonb": _to_json,
    "uuid": _to_uuid,
}


def convert(value: Any, type_: str, dialect: Dialect = POSTGRES) -> Any:
    """``value`` as a Python value of the column type (``None`` stays ``None``).

    jsonb values become JSON text; timestamps aware UTC datetimes (``timestamp``: naive UTC);
    integers given as epoch milliseconds are accepted for timestamps. Raises
    :class:`ConversionError` naming the problem, never the value.
    """
    if value is None:
        return None
    return _CONVERTERS[type_](value, dialect)


_POSITION_LIMIT = 1 << 127


def encode_position(position: tuple[int, ...]) -> list[int]:
    """The position as the integer array stored in ``_src_position``.

    Both databases compare arrays element by element and a shorter prefix first, exactly like
    Python tuples, so ``a < b`` ⇔ ``encode_position(a) < encode_position(b)`` in SQL too.
    """
    if not position:
        raise ConversionError("record has no source position")
    if any(
        isinstance(p, bool) or not isinstance(p, int) or not -_POSITION_LIMIT <= p < _POSITION_LIMIT for p in position
    ):
        raise ConversionError("source position is not a tuple of 128-bit integers")
    return list(position)
