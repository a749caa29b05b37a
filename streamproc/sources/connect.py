"""Kafka Connect JSON envelopes and Connect/Debezium logical types → plain JSON.

``{"schema": …, "payload": …}`` (``schemas.enable=true``) is unwrapped by :func:`unwrap`;
the schema is then used by :func:`convert` to turn encoded values into readable ones:

==========================================  =============================================
org.apache.kafka.connect.data.Decimal       decimal string (base64 two's complement + scale)
io.debezium.data.VariableScaleDecimal       decimal string (``{"scale", "value"}`` struct)
io.debezium.time.Date, connect Date         ``"YYYY-MM-DD"`` (days since epoch)
io.debezium.time.Time, connect Time         ``"HH:MM:SS.mmm"`` (ms after midnight)
io.debezium.time.MicroTime / NanoTime       ``"HH:MM:SS.ffffff"`` / 9 decimals
io.debezium.time.Timestamp, connect Ts      ``"…T…:…:….mmmZ"`` (ms since epoch)
io.debezium.time.MicroTimestamp             ``"…T…:…:….ffffffZ"`` (µs since epoch)
io.debezium.time.NanoTimestamp              9 decimals (ns since epoch)
io.debezium.time.ZonedTimestamp/ZonedTime   unchanged (already ISO strings)
bytes                                       unchanged (already base64 strings in JSON)
==========================================  =============================================

Timestamps without a zone (``MicroTimestamp`` of a PostgreSQL ``TIMESTAMP``) are computed by
Debezium as if UTC, so they are rendered with ``Z`` too. PostgreSQL's ``infinity`` and
``-infinity`` arrive as sentinel integers (``9223372036825200000`` / ``-9223372036832400000``
from older connectors, ``Long.MAX_VALUE`` / ``Long.MIN_VALUE`` from newer ones) and become the
strings ``"infinity"`` / ``"-infinity"``, as Debezium itself writes them for ``ZonedTimestamp``;
other values outside the calendar (years 1–9999) stay the integers they are, never another date.
Without a schema nothing is converted: values stay as the wire has them (integers, base64
strings), because their meaning cannot be known. Decimals sent as JSON numbers
(``decimal.format=NUMERIC``) are left as numbers.

Decimals are exact (integer arithmetic, no 28-digit decimal context) and bounded: more than
:data:`MAX_DECIMAL_DIGITS` digits, or a scale beyond ± that many places, is a
:class:`~streamproc.errors.DecodeError` naming the limit (larger ones would cost quadratic time).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any

from streamproc.errors import DecodeError
from streamproc.sources.common import date_from_days, iso_from_epoch, time_of_day

__all__ = [
    "unwrap",
    "convert",
    "convert_logical",
    "decimal_string",
    "debezium_timestamp",
    "LOGICAL_TYPES",
    "MAX_DECIMAL_DIGITS",
    "INFINITY_SENTINELS",
]

#: Most digits a decimal may have (PostgreSQL's NUMERIC precision limit); also the largest scale.
MAX_DECIMAL_DIGITS = 1000
_INT_TEXT = re.compile(r"-?[0-9]+")
_MAX_DECIMAL_BYTES = 416  # 2**(8*416-1) has 1002 digits: longer byte strings are refused unread
#: Debezium's PostgreSQL ±infinity timestamp sentinels → the strings it writes for ZonedTimestamp.
INFINITY_SENTINELS = {
    9223372036825200000: "infinity",
    9223372036854775807: "infinity",
    -9223372036832400000: "-infinity",
    -9223372036854775808: "-infinity",
}

_DECIMAL = "org.apache.kafka.connect.data.Decimal"
_VSD = "io.debezium.data.VariableScaleDecimal"


def unwrap(obj: Any) -> tuple[Any, dict[str, Any] | None]:
    """``{"schema", "payload"}`` → ``(payload, schema)``; anything else → ``(obj, None)``."""
    if type(obj) is dict and len(obj) == 2 and "payload" in obj and "schema" in obj:
        schema = obj["schema"]
        if schema is None or type(schema) is dict:
            return obj["payload"], schema
    return obj, None


def decimal_string(unscaled: bytes | str, scale: Any) -> str:
    """Big-endian two's-complement bytes (or their base64) with ``scale`` → ``"123.45"``, exactly.

    Raises :class:`ValueError` for a value that is not base64 or a scale that is not an integer,
    :class:`DecodeError` for one beyond :data:`MAX_DECIMAL_DIGITS` (digits or scale).
    """
    if isinstance(unscaled, str):
        if len(unscaled) > (_MAX_DECIMAL_BYTES + 2) // 3 * 4:
            raise DecodeError(f"a decimal has more than {MAX_DECIMAL_DIGITS} digits (the limit)")
        try:
            unscaled = base64.b64decode(unscaled, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("decimal value is not base64") from None
    elif not isinstance(unscaled, (bytes, bytearray)):
        raise ValueError("decimal value is not bytes")
    if len(unscaled) > _MAX_DECIMAL_BYTES:
        raise DecodeError(f"a decimal has more than {MAX_DECIMAL_DIGITS} digits (the limit)")
    places = _scale(scale)
    number = int.from_bytes(unscaled, "big", signed=True)
    digits = str(abs(number))
    if len(digits) > MAX_DECIMAL_DIGITS:
        raise DecodeError(f"a decimal has more than {MAX_DECIMAL_DIGITS} digits (the limit)")
    sign = "-" if number < 0 else ""
    if places <= 0:
        return sign + digits + "0" * -places if number else "0"
    digits = digits.rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def _scale(scale: Any) -> int:
    t = type(scale)
    if t is str and _INT_TEXT.fullmatch(scale):
        scale = int(scale) if len(scale) <= 8 else MAX_DECIMAL_DIGITS + 1
    elif t is not int:
        raise ValueError("decimal scale is not an integer")
    if not -MAX_DECIMAL_DIGITS <= scale <= MAX_DECIMAL_DIGITS:
        raise DecodeError(f"a decimal scale is beyond {MAX_DECIMAL_DIGITS} places (the limit)")
    return int(scale)


def debezium_timestamp(value: int, per_second: int, digits: int) -> str | int:
    """:func:`~streamproc.sources.common.iso_from_epoch` that knows Debezium's ±infinity sentinels."""
    sentinel = INFINITY_SENTINELS.get(value)
    return sentinel if sentinel is not None else iso_from_epoch(value, per_second, digits)


def _decimal(value: Any, params: Any) -> Any:
    if isinstance(value, (str, bytes)):
        scale = params.get("scale", 0) if isinstance(params, Mapping) else 0
        return decimal_string(value, scale)
    return value


def _variable_scale(value: Any, _params: Any) -> Any:
    if type(value) is dict and "value" in value:
        raw = value["value"]
        if raw is None:
            return None
        return decimal_string(raw, value.get("scale") or 0)
    return value


def _ints(fn: Callable[[int], Any]) -> Callable[[Any, Any], Any]:
    def conv(value: Any, _params: Any) -> Any:
        return fn(value) if type(value) is int else value

    return conv


LOGICAL_TYPES: Mapping[str, Callable[[Any, Any], Any]] = {
    _DECIMAL: _decimal,
    _VSD: _variable_scale,
    "io.debezium.time.Date": _ints(date_from_days),
    "org.apache.kafka.connect.data.Date": _ints(date_from_days),
    "io.debezium.time.Time": _ints(lambda v: time_of_day(v, 1000, 3)),
    "org.apache.kafka.connect.data.Time": _ints(lambda v: time_of_day(v, 1000, 3)),
    "io.debezium.time.MicroTime": _ints(lambda v: time_of_day(v, 1_000_000, 6)),
    "io.debezium.time.NanoTime": _ints(lambda v: time_of_day(v, 1_000_000_000, 9)),
    "io.debezium.time.Timestamp": _ints(lambda v: debezium_timestamp(v, 1000, 3)),
    "org.apache.kafka.connect.data.Timestamp": _ints(lambda v: debezium_timestamp(v, 1000, 3)),
    "io.debezium.time.MicroTimestamp": _ints(lambda v: debezium_timestamp(v, 1_000_000, 6)),
    "io.debezium.time.NanoTimestamp": _ints(lambda v: debezium_timestamp(v, 1_000_000_000, 9)),
}


def convert_logical(name: str | None, value: Any, params: Any = None) -> Any:
    """Apply the converter registered for a semantic type name (others unchanged)."""
    conv = LOGICAL_TYPES.get(name) if name else None
    return conv(value, params) if conv is not None else value


def convert(schema: Any, value: Any) -> Any:
    """Convert ``value`` according to its Connect JSON ``schema`` (see module docstring)."""
    if value is None or type(schema) is not dict:
        return value
    name = schema.get("name")
    if type(name) is str:  # a schema name of another type names no logical type
        conv = LOGICAL_TYPES.get(name)
        if conv is not None:
            return conv(value, schema.get("parameters"))
    kind = schema.get("type")
    if kind == "struct":
        if type(value) is dict:
            return _struct(schema.get("fields"), value)
    elif kind == "array":
        items = schema.get("items")
        if type(value) is list and _may_convert(items):
            return [convert(items, v) for v in value]
    elif kind == "map":
        values = schema.get("values")
        if type(value) is dict and _may_convert(values):
            return {k: convert(values, v) for k, v in value.items()}
    return value


def _may_convert(schema: Any) -> bool:
    return type(schema) is dict and ("name" in schema or schema.get("type") in ("struct", "array", "map"))


def _struct(fields: Any, value: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(fields, list):
        return value
    out: dict[str, Any] | None = None
    for field in fields:
        if not _may_convert(field):
            continue
        fname = field.get("field")
        if type(fname) is not str or fname not in value:
            continue
        old = value[fname]
        new = convert(field, old)
        if new is not old:
            if out is None:
                out = dict(value)
            out[fname] = new
    return value if out is None else out
