"""One registered Avro writer schema: checked, parsed for fastavro, and used to make values plain.

Checks made once per schema, before any data is read with it (each failure a
:class:`~streamproc.errors.DecodeError`, as poison):

* **Not recursive.** A named type that contains itself (a linked list) lets a message nest as
  deep as its length, and fastavro's reader recurses in C: a deep enough message crashes the
  process (SIGSEGV). Kafka Connect schemas are never recursive.
* **Bounded nesting**: records, arrays and maps nest at most ``max_depth`` levels.
* **No array of zero-size items** (``null``, a record without data, ``fixed`` of size 0): a block
  count of 2**60 such items costs no bytes and would stall the worker and exhaust its memory.

fastavro reads with logical types *removed* from the schema, so it returns the encoded numbers
and bytes, and :meth:`AvroSchema.plain` converts them the same way as the JSON path does:
``decimal`` → exact decimal string (bounded, :func:`~streamproc.sources.connect.decimal_string`),
``date`` → ``"YYYY-MM-DD"``, ``time-millis``/``-micros`` → ``"HH:MM:SS.fff"``,
``timestamp-millis``/``-micros``/``-nanos`` (and ``local-``) → ISO-8601 with ``Z``; values outside
the calendar stay integers (fastavro would fail on them and turn a valid record into poison).
``uuid`` → string, ``bytes``/``fixed`` → base64, NaN/±Infinity → ``"NaN"``/``"Infinity"``/
``"-Infinity"``; Connect/Debezium ``connect.name`` types as in :mod:`.connect`.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import fastavro

from streamproc.errors import DecodeError
from streamproc.sources.common import date_from_days, iso_from_epoch, time_of_day
from streamproc.sources.connect import LOGICAL_TYPES, decimal_string
from streamproc.sources.jsontext import finite

__all__ = ["AvroSchema", "strip_logical_types"]

_PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))
_NAMED = ("record", "error", "enum", "fixed")
_VSD = "io.debezium.data.VariableScaleDecimal"
_PY_TYPES: dict[type, frozenset[str]] = {
    dict: frozenset(("record", "map")),
    list: frozenset(("array",)),
    str: frozenset(("string", "enum")),
    bool: frozenset(("boolean",)),
    int: frozenset(("int", "long")),
    float: frozenset(("float", "double")),
    bytes: frozenset(("bytes", "fixed")),
}
_TIMESTAMPS = {
    "timestamp-millis": (1000, 3),
    "local-timestamp-millis": (1000, 3),
    "timestamp-micros": (1_000_000, 6),
    "local-timestamp-micros": (1_000_000, 6),
    "timestamp-nanos": (1_000_000_000, 9),
    "local-timestamp-nanos": (1_000_000_000, 9),
}


def strip_logical_types(schema: Any) -> Any:
    """A copy of a schema (parsed JSON) without any ``logicalType`` attribute."""
    if isinstance(schema, dict):
        return {k: strip_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [strip_logical_types(v) for v in schema]
    return schema


class AvroSchema:
    """A writer schema: its JSON (``raw``), fastavro's parsed form, and its named types."""

    __slots__ = ("schema_id", "parsed", "raw", "named", "_limit", "_depths", "_zero")

    def __init__(self, schema_id: int, raw: Any, max_depth: int) -> None:
        self.schema_id = schema_id
        self.raw = raw
        self.named: dict[str, dict[str, Any]] = {}
        self._collect(raw, "")
        self._limit = max_depth
        self._depths: dict[int, int] = {}
        self._zero: dict[int, bool] = {}
        if self._depth(raw, ()) > max_depth:
            self._too_deep()
        self.parsed = fastavro.parse_schema(strip_logical_types(raw))

    def _too_deep(self) -> None:
        raise DecodeError(
            f"Confluent Avro: schema id {self.schema_id} nests deeper than {self._limit} levels (the nesting limit)"
        )

    def _collect(self, schema: Any, namespace: str) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch, namespace)
            return
        if not isinstance(schema, dict):
            return
        kind = schema.get("type")
        if kind in _NAMED and isinstance(schema.get("name"), str):
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

    def _depth(self, schema: Any, path: tuple[int, ...]) -> int:
        """Data nesting of ``schema``; refuses recursion and arrays of zero-size items."""
        schema = self.resolve(schema)
        if isinstance(schema, list):
            return max((self._depth(b, path) for b in schema), default=0)
        if not isinstance(schema, dict):
            return 0
        key = id(schema)
        if key in path:
            raise DecodeError(f"Confluent Avro: schema id {self.schema_id} is recursive (not supported)")
        known = self._depths.get(key)
        if known is not None:
            return known
        kind = schema.get("type")
        inner = (*path, key)
        if len(inner) > self._limit:
            self._too_deep()
        if kind in ("record", "error"):
            fields = [f.get("type") for f in schema.get("fields") or () if isinstance(f, dict)]
            depth = 1 + max((self._depth(t, inner) for t in fields), default=0)
        elif kind == "array":
            if self._zero_size(schema.get("items"), ()):
                raise DecodeError(
                    f"Confluent Avro: schema id {self.schema_id} has an array of zero-size items (not supported)"
                )
            depth = 1 + self._depth(schema.get("items"), inner)
        elif kind == "map":
            depth = 1 + self._depth(schema.get("values"), inner)
        else:
            depth = 0
        self._depths[key] = depth
        return depth

    def _zero_size(self, schema: Any, path: tuple[int, ...]) -> bool:
        schema = self.resolve(schema)
        if schema == "null":
            return True
        if not isinstance(schema, dict) or id(schema) in path or len(path) > self._limit:
            return False
        known = self._zero.get(id(schema))
        if known is not None:
            return known
        kind = schema.get("type")
        zero = False
        if kind == "fixed":
            zero = schema.get("size") == 0
        elif kind in ("record", "error"):
            inner = (*path, id(schema))
            fields = [f.get("type") for f in schema.get("fields") or () if isinstance(f, dict)]
            zero = all(self._zero_size(t, inner) for t in fields)
        self._zero[id(schema)] = zero
        return zero

    def resolve(self, schema: Any) -> Any:
        """A named-type reference or a wrapped ``{"type": …}`` → the schema it stands for."""
        for _ in range(64):
            if isinstance(schema, str) and schema not in _PRIMITIVES:
                found = self.named.get(schema) or self.named.get(schema.rsplit(".", 1)[-1])
                return found if found is not None else schema
            if not isinstance(schema, dict):
                return schema
            kind = schema.get("type")
            if isinstance(kind, (dict, list)) or (
                isinstance(kind, str) and kind not in _PRIMITIVES and kind not in (*_NAMED, "array", "map")
            ):
                schema = kind
                continue
            return schema
        raise DecodeError(f"Confluent Avro: schema id {self.schema_id} has a type reference loop")

    def plain(self, schema: Any, value: Any) -> Any:
        """A value read by fastavro (with :func:`strip_logical_types`) → plain JSON."""
        if value is None:
            return None
        schema = self.resolve(schema)
        if isinstance(schema, list):
            return self.plain(self._branch(schema, value), value)
        if isinstance(schema, str):
            return _leaf(value, {})
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
        return _leaf(value, schema)

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


def _leaf(value: Any, schema: dict[str, Any]) -> Any:
    t = type(value)
    if t is str or t is bool:
        return value
    logical = schema.get("logicalType")
    if t is int:
        if logical in _TIMESTAMPS:
            per_second, digits = _TIMESTAMPS[logical]
            return iso_from_epoch(value, per_second, digits)
        if logical == "date":
            return date_from_days(value)
        if logical == "time-millis":
            return time_of_day(value, 1000, 3)
        if logical == "time-micros":
            return time_of_day(value, 1_000_000, 6)
        name = schema.get("connect.name")
        conv = LOGICAL_TYPES.get(name) if name else None
        return conv(value, schema.get("connect.parameters")) if conv is not None else value
    if t is float:
        return finite(value)
    if isinstance(value, (bytes, bytearray)):
        if logical == "decimal":
            return decimal_string(bytes(value), schema.get("scale", 0))
        if logical == "uuid" and len(value) == 16:
            return str(uuid.UUID(bytes=bytes(value)))
        name = schema.get("connect.name")
        conv = LOGICAL_TYPES.get(name) if name else None
        if conv is not None:
            return conv(bytes(value), schema.get("connect.parameters"))
        return base64.b64encode(value).decode("ascii")
    return value
