"""Fuzz target: the Avro path (``streamproc.sources.avro``, ``.avro_schema``) — Confluent wire
format decoded with schemas from a mock registry (:mod:`fuzz.avro_schemas`).

Input, by its first byte ``m``: ``m`` even — the rest is the Kafka value (magic byte, 4-byte
schema id, Avro body) against the registered Debezium schemas; ``m`` odd — a 2-byte length, that
many bytes of schema text registered under a fresh id, then the Avro body for it (so schema
parsing and checking are fuzzed too). ``(m >> 1) % 3`` picks the format: auto-detected,
``debezium-sql`` or ``debezium-mongodb``.
"""

from __future__ import annotations

from fuzz.avro_schemas import SCHEMA_MODE_ID, MockRegistry
from fuzz.harness import check_decode_error, event_json, twice
from streamproc.sources import Decoder

__all__ = ["test_one_input"]

_FORMATS = (None, "debezium-sql", "debezium-mongodb")
_DECODER = Decoder(schema_registry=MockRegistry())  # type: ignore[arg-type]  # duck-typed like the client
_TOPIC = "pg.public.orders"


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode = data[0]
    fmt = _FORMATS[(mode >> 1) % len(_FORMATS)]
    if mode & 1 == 0:
        decoder, value = _DECODER, data[1:]
    else:
        length = int.from_bytes(data[1:3], "big")
        schema_text = data[3 : 3 + length].decode("utf-8", "replace")
        decoder = Decoder(schema_registry=MockRegistry(schema_text))  # type: ignore[arg-type]
        value = b"\x00" + SCHEMA_MODE_ID.to_bytes(4, "big") + data[3 + length :]
    check_decode_error(twice(lambda: decoder.decode(_TOPIC, None, value, fmt=fmt), event_json))
