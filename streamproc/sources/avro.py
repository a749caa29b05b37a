"""Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro binary) → plain JSON.

Writer schemas are fetched once per id from a ``SchemaRegistryClient`` (anything with
``get_schema(schema_id)`` returning an object with ``schema_str``/``schema_type``), checked and
parsed (:class:`~streamproc.sources.avro_schema.AvroSchema`: no recursive schemas, bounded
nesting, no arrays of zero-size items) and cached by id. The decoded record is then walked with
its schema so that the result holds plain JSON values only:

* Avro logical types: ``decimal`` → exact decimal string, ``date`` → ``"YYYY-MM-DD"``,
  ``time-millis``/``time-micros`` → ``"HH:MM:SS.mmm"``/``.ffffff``, ``timestamp-millis``/
  ``-micros`` → ISO-8601 UTC with ``Z`` (3 resp. 6 decimals; outside years 1–9999 the integer),
  ``uuid`` → string; ``bytes``/``fixed`` → base64 string; NaN/±Infinity → ``"NaN"``/
  ``"Infinity"``/``"-Infinity"`` (:mod:`.jsontext`).
* Connect/Debezium semantic types that the AvroConverter writes as plain ints/records with a
  ``connect.name`` attribute (``io.debezium.time.MicroTimestamp``, ``…Date``,
  ``io.debezium.data.VariableScaleDecimal``, …) are converted like their JSON counterparts
  (:mod:`streamproc.sources.connect`).

Errors: an unknown schema id (HTTP 404), a schema that is refused, or data that does not match
its schema → :class:`DecodeError`; any other registry failure → :class:`ServiceUnavailable`
(transient: the message is fine, the registry is not). Schema references (schemas importing
named types from other subjects) are not resolved; such schemas fail to parse and are reported
as poison. No message quotes the data or the library's own error text (which may quote it).
"""

from __future__ import annotations

import io
from typing import Any

import fastavro

from streamproc.errors import DecodeError, ServiceUnavailable
from streamproc.sources.avro_schema import AvroSchema
from streamproc.sources.jsontext import MAX_DEPTH, parse_json

__all__ = ["AvroDecoder", "MAGIC"]

MAGIC = 0


class AvroDecoder:
    """Decode Confluent-framed Avro with schemas from a registry (cached by id)."""

    __slots__ = ("_registry", "_cache", "_max_depth")

    def __init__(self, registry: Any, max_depth: int = MAX_DEPTH) -> None:
        """``max_depth``: the JSON nesting limit; a schema's records may nest half as deep."""
        self._registry = registry
        self._cache: dict[int, AvroSchema] = {}
        self._max_depth = max_depth

    def _schema(self, schema_id: int) -> AvroSchema:
        cached = self._cache.get(schema_id)
        if cached is not None:
            return cached
        try:
            registered = self._registry.get_schema(schema_id)
        except Exception as exc:  # noqa: BLE001 - any client failure; only its class and status are kept
            if getattr(exc, "http_status_code", None) == 404:
                raise DecodeError(f"Confluent Avro: schema id {schema_id} is not in the schema registry") from None
            raise ServiceUnavailable(
                f"schema registry lookup of schema id {schema_id} failed ({type(exc).__name__})"
            ) from None
        kind = getattr(registered, "schema_type", None) or "AVRO"
        if kind != "AVRO":
            raise DecodeError(f"Confluent wire format: schema id {schema_id} is {kind}; only Avro is supported")
        depth = max(self._max_depth // 2, 1)
        try:
            entry = AvroSchema(schema_id, parse_json(registered.schema_str, 4 * depth + 8), depth)
        except DecodeError:
            raise
        except Exception:  # noqa: BLE001 - fastavro's many schema errors; their text is dropped
            raise DecodeError(f"Confluent Avro: schema id {schema_id} is not a usable Avro schema") from None
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
        except Exception as exc:  # noqa: BLE001 - fastavro's many read errors; their text may quote data
            raise DecodeError(
                f"{what}: Avro data ({len(data)} bytes) does not match schema id {schema_id} ({type(exc).__name__})"
            ) from None
        try:
            return entry.plain(entry.raw, record)
        except (TypeError, ValueError, KeyError, AttributeError):
            raise DecodeError(f"{what}: Avro record does not fit schema id {schema_id}") from None
