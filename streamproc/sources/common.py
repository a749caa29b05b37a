"""Helpers shared by every decoder: JSON parsing, integers, namespaces, positions, time.

Invariants kept here:

* :func:`parse_json` is :func:`streamproc.sources.jsontext.parse_json`: strict UTF-8, exact
  integers, bounded numbers and nesting, non-finite numbers spelled ``"NaN"``/``"Infinity"``/
  ``"-Infinity"`` (see :mod:`.jsontext`).
* Out-of-range times stay recognisable: a count that is not a calendar instant is returned as
  the number it is, never wrapped into another date.
* Nothing here puts a payload value into an exception message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from streamproc.errors import DecodeError
from streamproc.jsonutil import json_type
from streamproc.sources.jsontext import MAX_DEPTH, JSONTextError, parse_json

__all__ = [
    "PLACEHOLDER",
    "Message",
    "parse_json",
    "json_error_where",
    "as_int",
    "topic_namespace",
    "fallback_position",
    "iso_from_epoch",
    "time_of_day",
    "date_from_days",
    "epoch_us_from_iso",
    "kind_of",
    "require_object",
    "key_from_fields",
]

#: Debezium's default ``unavailable.value.placeholder`` (unchanged TOASTed column).
PLACEHOLDER = "__debezium_unavailable_value"

_EPOCH = datetime(1970, 1, 1)
_INT_TEXT = re.compile(r"-?[0-9]{1,40}")
_EPOCH_DATE = date(1970, 1, 1)


def json_error_where(exc: BaseException) -> str:
    """A data-free description of a JSON parse failure (message and position only)."""
    if isinstance(exc, JSONTextError):
        return str(exc)
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid UTF-8 at byte {exc.start}"
    return type(exc).__name__


def as_int(value: Any) -> int | None:
    """An integer from an int, an integral float or a decimal string; else ``None``."""
    t = type(value)
    if t is int:
        return value
    if t is str:
        return int(value) if _INT_TEXT.fullmatch(value) else None
    if t is float and value.is_integer():
        return int(value)
    return None


@lru_cache(maxsize=4096)
def topic_namespace(topic: str) -> str:
    """``prefix.db.coll`` → ``db.coll``; topics with fewer than three segments stay as they are."""
    parts = topic.split(".")
    if len(parts) >= 3:
        return ".".join(parts[1:])
    return topic


def fallback_position(offset: int | None) -> tuple[int, ...]:
    """Position for a message without ordering information: ``(offset,)`` or ``()``."""
    return (offset,) if offset is not None else ()


def iso_from_epoch(value: int, per_second: int, digits: int) -> str | int:
    """``value`` units since the epoch → ``YYYY-MM-DDTHH:MM:SS.fff…Z`` (``digits`` decimals).

    Out-of-range values (e.g. Debezium's ±infinity sentinels) are returned unchanged.
    """
    secs, frac = divmod(value, per_second)
    try:
        dt = _EPOCH + timedelta(seconds=secs)
    except (OverflowError, ValueError):
        return value
    if per_second == 1:
        return dt.isoformat() + "Z"
    return f"{dt.isoformat()}.{frac:0{digits}d}Z"


def time_of_day(value: int, per_second: int, digits: int) -> str | int:
    """Units after midnight → ``HH:MM:SS.fff…`` (``24:00:00`` allowed); values outside
    ``0 … 24:00:00`` unchanged."""
    if value < 0 or value > 86_400 * per_second:
        return value
    secs, frac = divmod(value, per_second)
    hours, rem = divmod(secs, 3600)
    minutes, seconds = divmod(rem, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{frac:0{digits}d}"


def date_from_days(days: int) -> str | int:
    """Days since the epoch → ``YYYY-MM-DD``; out-of-range values unchanged."""
    try:
        return (_EPOCH_DATE + timedelta(days=days)).isoformat()
    except (OverflowError, ValueError):
        return days


def epoch_us_from_iso(text: Any) -> int | None:
    """ISO-8601 (``Z``, offset or naive = UTC; any fraction) → epoch microseconds, else ``None``."""
    if type(text) is not str:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def kind_of(value: Any) -> str:
    """JSON type name of a parsed value, for error messages (a non-JSON value: its Python type)."""
    kind = json_type(value)
    return kind if kind != "string" or isinstance(value, str) else type(value).__name__


def require_object(fmt: str, value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise DecodeError(f"{fmt}: value is a JSON {kind_of(value)}, expected an object")
    return value


@dataclass(slots=True)
class Message:
    """One Kafka record after wire decoding and Connect-envelope unwrapping."""

    topic: str
    key: Any
    key_schema: dict[str, Any] | None
    value: Any
    schema: dict[str, Any] | None
    offset: int | None = None
    key_fields: Sequence[str] | None = None
    max_depth: int = MAX_DEPTH  # nesting limit of JSON texts inside the value (see .jsontext)


def key_from_fields(fields: Sequence[str], *rows: dict[str, Any] | None) -> dict[str, Any]:
    """``{field: value}`` for the configured primary-key fields, from the first row holding them."""
    for row in rows:
        if row:
            found = {f: row[f] for f in fields if f in row}
            if found:
                return found
    return {}
