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
Debezium as if UTC, so they are rendered with ``Z`` too. Values out of the calendar range
(Debezium's ±infinity sentinels) stay integers. Without a schema nothing is converted:
values stay as the wire has them (integers, base64 strings), because their meaning cannot
be known. Decimals sent as JSON numbers (``decimal.format=NUMERIC``) are left as numbers.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from streamproc.sources.common import date_from_days, iso_from_epoch, time_of_day

__all__ = ["unwrap", "convert", "convert_logical", "decimal_string", "LOGICAL_TYPES"]

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
    """Big-endian two's-complement bytes (or their base64) with ``scale`` → ``"123.45"``."""
    if isinstance(unscaled, str):
        try:
            unscaled = base64.b64decode(unscaled, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("decimal value is not base64") from None
    number = int.from_bytes(unscaled, "big", signed=True)
    return format(Decimal(number).scaleb(-int(scale)), "f")


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
    "io.debezium.time.Timestamp": _ints(lambda v: iso_from_epoch(v, 1000, 3)),
    "org.apache.kafka.connect.data.Timestamp": _ints(lambda v: iso_from_epoch(v, 1000, 3)),
    "io.debezium.time.MicroTimestamp": _ints(lambda v: iso_from_epoch(v, 1_000_000, 6)),
    "io.debezium.time.NanoTimestamp": _ints(lambda v: iso_from_epoch(v, 1_000_000_000, 9)),
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
    if name is not None:
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
        if fname is None or fname not in value:
            continue
        old = value[fname]
        new = convert(field, old)
        if new is not old:
            if out is None:
                out = dict(value)
            out[fname] = new
    return value if out is None else out
