"""Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro binary) → plain JSON.

Writer schemas are fetched once per id from a ``SchemaRegistryClient`` (anything with
``get_schema(schema_id)`` returning an object with ``schema_str``/``schema_type``), parsed
with fastavro and cached by id. The decoded record is then walked with its schema so that
the result holds plain JSON values only:

* Avro logical types (decoded by fastavro): ``decimal`` → decimal string, ``date`` →
  ``"YYYY-MM-DD"``, ``time-millis``/``time-micros`` → ``"HH:MM:SS.mmm"``/``.ffffff``,
  ``timestamp-millis``/``-micros`` → ISO-8601 UTC with ``Z`` (3 resp. 6 decimals),
  ``uuid`` → string; ``bytes``/``fixed`` → base64 string; NaN/±Infinity → ``null``.
* Connect/Debezium semantic types that the AvroConverter writes as plain ints/records with a
  ``connect.name`` attribute (``io.debezium.time.MicroTimestamp``, ``…Date``,
  ``io.debezium.data.VariableScaleDecimal``, …) are converted like their JSON counterparts
  (:mod:`streamproc.sources.connect`).

Errors: an unknown schema id (HTTP 404) or data that does not match its schema →
:class:`DecodeError`; any other registry failure → :class:`ServiceUnavailable` (transient: the
message is fine, the registry is not). Schema references (schemas importing named types from
other subjects) are not resolved; such schemas fail to parse and are reported as poison.
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import json
import uuid
from decimal import Decimal
from typing import Any

import fastavro

from streamproc.errors import DecodeError, ServiceUnavailable
from streamproc.sources.common import iso_from_epoch, time_of_day
from streamproc.sources.connect import LOGICAL_TYPES, decimal_string

__all__ = ["AvroDecoder", "MAGIC"]

MAGIC = 0
_PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))
_VSD = "io.debezium.data.VariableScaleDecimal"
_EPOCH_AWARE = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_EPOCH = _dt.datetime(1970, 1, 1)
_PY_TYPES: dict[type, frozenset[str]] = {
    dict: frozenset(("record", "map")),
    list: frozenset(("array",)),
    str: frozenset(("string", "enum")),
    bool: frozenset(("boolean",)),
    int: frozenset(("int", "long")),
    float: frozenset(("float", "double")),
    bytes: frozenset(("bytes", "fixed")),
    Decimal: frozenset(("bytes", "fixed")),
    _dt.datetime: frozenset(("long",)),
    _dt.date: frozenset(("int",)),
    _dt.time: frozenset(("int", "long")),
    uuid.UUID: frozenset(("string", "fixed")),
}


class _Schema:
    __slots__ = ("schema_id", "parsed", "raw", "named")

    def __init__(self, schema_id: int, raw: Any) -> None:
        self.schema_id = schema_id
        self.raw = raw
        self.named: dict[str, dict[str, Any]] = {}
        self._collect(raw, "")
        self.parsed = fastavro.parse_schema(raw)

    def _collect(self, schema: Any, namespace: str) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch, namespace)
            return
        if not isinstance(schema, dict):
            return
        kind = schema.get("type")
        if kind in ("record", "error", "enum", "fixed") and isinstance(schema.get("name"), str):
            name = schema["name"]
            ns = schema.get("namespace", namespace) or ""
            full = name if "." in name else (f"{ns}.{name}" if ns else name)
            self.named[full] = schema
            self.named.setdefault(full.rsplit(".", 1)[-1], schema)
            namespace = full.rsplit(".", 1)[0] if "." in full else ""
        if kind in ("record", "error"):
            for field in schema.get("fields") or ():
                if isinstance(field, dict):
                    self._collect(field.get("type"), namespace)
        elif kind == "array":
            self._collect(schema.get("items"), namespace)
        elif kind == "map":
            self._collect(schema.get("values"), namespace)
        elif isinstance(kind, (dict, list)):
            self._collect(kind, namespace)

    def resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            found = self.named.get(schema) or self.named.get(schema.rsplit(".", 1)[-1])
            return found if found is not None else schema
        if isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
            return self.resolve(schema["type"])
        if (
            isinstance(schema, dict)
            and isinstance(schema.get("type"), str)
            and schema["type"] not in _PRIMITIVES
            and schema["type"] not in ("record", "error", "enum", "fixed", "array", "map")
        ):
            return self.resolve(schema["type"])
        return schema

    def plain(self, schema: Any, value: Any) -> Any:
        if value is None:
            return None
        schema = self.resolve(schema)
        if isinstance(schema, list):
            return self.plain(self._branch(schema, value), value)
        if isinstance(schema, str):
            return _leaf(value, None, None, None)
        kind = schema.get("type")
        if kind in ("record", "error"):
            if schema.get("connect.name") == _VSD and type(value) is dict:
                raw = value.get("value")
                return None if raw is None else decimal_string(raw, value.get("scale") or 0)
            return {
                f["name"]: self.plain(f["type"], value[f["name"]])
                for f in schema.get("fields") or ()
                if f["name"] in value
            }
        if kind == "array":
            items = schema.get("items")
            return [self.plain(items, v) for v in value]
        if kind == "map":
            values = schema.get("values")
            return {k: self.plain(values, v) for k, v in value.items()}
        return _leaf(value, schema.get("logicalType"), schema.get("connect.name"), schema.get("connect.parameters"))

    def _branch(self, branches: list[Any], value: Any) -> Any:
        candidates = [b for b in branches if b != "null"]
        if len(candidates) == 1:
            return candidates[0]
        wanted = _PY_TYPES.get(type(value)) or next(
            (kinds for py, kinds in _PY_TYPES.items() if isinstance(value, py)), frozenset()
        )
        for branch in candidates:
            resolved = self.resolve(branch)
            kind = resolved if isinstance(resolved, str) else resolved.get("type")
            if kind in wanted:
                return branch
        return candidates[0] if candidates else "null"


def _leaf(value: Any, logical: Any, connect_name: Any, params: Any) -> Any:
    t = type(value)
    if t is str or t is bool:
        return value
    if t is int:
        conv = LOGICAL_TYPES.get(connect_name) if connect_name else None
        return conv(value, params) if conv is not None else value
    if t is float:
        return value if value - value == 0 else None
    if t is Decimal:
        return format(value, "f") if value.is_finite() else None
    if t is _dt.datetime:
        micros = logical not in ("timestamp-millis", "local-timestamp-millis")
        base = _EPOCH_AWARE if value.tzinfo is not None else _EPOCH
        us = (value - base) // _dt.timedelta(microseconds=1)
        return iso_from_epoch(us, 1_000_000, 6) if micros else iso_from_epoch(us // 1000, 1000, 3)
    if t is _dt.date:
        return value.isoformat()
    if t is _dt.time:
        us = ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
        return time_of_day(us // 1000, 1000, 3) if logical == "time-millis" else time_of_day(us, 1_000_000, 6)
    if t is uuid.UUID:
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        conv = LOGICAL_TYPES.get(connect_name) if connect_name else None
        if conv is not None:
            return conv(bytes(value), params)
        return base64.b64encode(value).decode("ascii")
    return value


class AvroDecoder:
    """Decode Confluent-framed Avro with schemas from a registry (cached by id)."""

    __slots__ = ("_registry", "_cache")

    def __init__(self, registry: Any) -> None:
        self._registry = registry
        self._cache: dict[int, _Schema] = {}

    def _schema(self, schema_id: int) -> _Schema:
        cached = self._cache.get(schema_id)
        if cached is not None:
            return cached
        try:
            registered = self._registry.get_schema(schema_id)
        except Exception as exc:
            if getattr(exc, "http_status_code", None) == 404:
                raise DecodeError(f"Confluent Avro: schema id {schema_id} is not in the schema registry") from exc
            raise ServiceUnavailable(
                f"schema registry lookup of schema id {schema_id} failed ({type(exc).__name__})"
            ) from exc
        kind = getattr(registered, "schema_type", None) or "AVRO"
        if kind != "AVRO":
            raise DecodeError(f"Confluent wire format: schema id {schema_id} is {kind}; only Avro is supported")
        try:
            entry = _Schema(schema_id, json.loads(registered.schema_str))
        except Exception as exc:
            raise DecodeError(f"Confluent Avro: schema id {schema_id} is not a usable Avro schema") from exc
        self._cache[schema_id] = entry
        return entry

    def decode(self, data: bytes, what: str = "value") -> Any:
        """Confluent-framed Avro bytes → plain JSON value."""
        if len(data) < 5 or data[0] != MAGIC:
            raise DecodeError(
                f"{what}: not Confluent Avro ({len(data)} bytes, magic byte 0x{data[0]:02x})"
                if data
                else f"{what}: empty"
            )
        schema_id = int.from_bytes(data[1:5], "big")
        entry = self._schema(schema_id)
        try:
            record = fastavro.schemaless_reader(io.BytesIO(data[5:]), entry.parsed, None)
        except Exception as exc:
            raise DecodeError(
                f"{what}: Avro data ({len(data)} bytes) does not match schema id {schema_id} ({type(exc).__name__})"
            ) from exc
        try:
            return entry.plain(entry.raw, record)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise DecodeError(f"{what}: Avro record does not fit schema id {schema_id}") from exc
