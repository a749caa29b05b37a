"""The mock schema registry of the Avro fuzz target and the records its seeds are written from.

:class:`MockRegistry` answers ``get_schema(id)`` like ``confluent_kafka``'s client: a registered
schema, or an exception with ``http_status_code = 404``. The registered schemas are what the
AvroConverter writes for Debezium: a relational envelope with Avro logical types and Connect
semantic types, a MongoDB envelope (documents as Extended JSON strings), a key, and a record with
every complex type (map, enum, fixed, nested union). Pure data: no streamproc import.
"""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

__all__ = ["SCHEMAS", "RECORDS", "MockRegistry", "NotFound", "SCHEMA_MODE_ID", "frame", "schema_mode_input"]

_CONNECT_DECIMAL = {
    "type": "bytes",
    "logicalType": "decimal",
    "precision": 12,
    "scale": 2,
    "connect.name": "org.apache.kafka.connect.data.Decimal",
    "connect.parameters": {"scale": "2"},
}
_VARIABLE_DECIMAL = {
    "type": "record",
    "name": "VariableScaleDecimal",
    "namespace": "io.debezium.data",
    "connect.name": "io.debezium.data.VariableScaleDecimal",
    "fields": [{"name": "scale", "type": "int"}, {"name": "value", "type": "bytes"}],
}
_ROW = {
    "type": "record",
    "name": "Value",
    "namespace": "pg.public.orders",
    "fields": [
        {"name": "id", "type": "int"},
        {"name": "customer_email", "type": ["null", "string"], "default": None},
        {"name": "amount", "type": _CONNECT_DECIMAL},
        {"name": "ratio", "type": ["null", _VARIABLE_DECIMAL], "default": None},
        {"name": "created", "type": ["null", {"type": "long", "connect.name": "io.debezium.time.MicroTimestamp"}]},
        {"name": "day", "type": {"type": "int", "connect.name": "io.debezium.time.Date"}},
        {"name": "zoned", "type": ["null", {"type": "string", "connect.name": "io.debezium.time.ZonedTimestamp"}]},
        {"name": "seen", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "seen_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "at", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "at_us", "type": {"type": "long", "logicalType": "time-micros"}},
        {"name": "born", "type": ["null", {"type": "int", "logicalType": "date"}], "default": None},
        {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "blob", "type": ["null", "bytes"], "default": None},
        {"name": "score", "type": "double"},
        {"name": "weight", "type": "float"},
        {"name": "paid", "type": "boolean"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
    ],
}
_SQL_SOURCE = {
    "type": "record",
    "name": "Source",
    "namespace": "io.debezium.connector.postgresql",
    "fields": [
        {"name": "version", "type": "string"},
        {"name": "connector", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "ts_ms", "type": "long"},
        {"name": "snapshot", "type": ["null", "string"], "default": None},
        {"name": "db", "type": "string"},
        {"name": "schema", "type": "string"},
        {"name": "table", "type": "string"},
        {"name": "txId", "type": ["null", "long"], "default": None},
        {"name": "lsn", "type": ["null", "long"], "default": None},
    ],
}
_TRANSACTION = {
    "type": "record",
    "name": "ConnectDefault",
    "namespace": "io.confluent.connect.avro",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "total_order", "type": "long"},
        {"name": "data_collection_order", "type": "long"},
    ],
}
SQL_ENVELOPE = {
    "type": "record",
    "name": "Envelope",
    "namespace": "pg.public.orders",
    "fields": [
        {"name": "before", "type": ["null", _ROW], "default": None},
        {"name": "after", "type": ["null", "Value"], "default": None},
        {"name": "source", "type": _SQL_SOURCE},
        {"name": "op", "type": "string"},
        {"name": "ts_ms", "type": ["null", "long"], "default": None},
        {"name": "transaction", "type": ["null", _TRANSACTION], "default": None},
    ],
}
MONGO_ENVELOPE = {
    "type": "record",
    "name": "Envelope",
    "namespace": "cdc.Facilitron_common.users",
    "fields": [
        {"name": "before", "type": ["null", "string"], "default": None},
        {"name": "after", "type": ["null", "string"], "default": None},
        {
            "name": "updateDescription",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "updatedescription",
                    "fields": [
                        {"name": "removedFields", "type": ["null", {"type": "array", "items": "string"}]},
                        {"name": "updatedFields", "type": ["null", "string"], "default": None},
                    ],
                },
            ],
            "default": None,
        },
        {
            "name": "source",
            "type": {
                "type": "record",
                "name": "Source",
                "namespace": "io.debezium.connector.mongo",
                "fields": [
                    {"name": "connector", "type": "string"},
                    {"name": "name", "type": "string"},
                    {"name": "ts_ms", "type": "long"},
                    {"name": "db", "type": "string"},
                    {"name": "collection", "type": "string"},
                    {"name": "ord", "type": "int"},
                    {"name": "txnNumber", "type": ["null", "long"], "default": None},
                ],
            },
        },
        {"name": "op", "type": ["null", "string"], "default": None},
        {"name": "ts_ms", "type": ["null", "long"], "default": None},
    ],
}
KEY = {"type": "record", "name": "Key", "namespace": "pg.public.orders", "fields": [{"name": "id", "type": "int"}]}
COMPLEX = {
    "type": "record",
    "name": "Everything",
    "namespace": "fuzz",
    "fields": [
        {"name": "op", "type": "string"},
        {"name": "attrs", "type": {"type": "map", "values": ["null", "long", "string", "double"]}},
        {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
        {
            "name": "money",
            "type": {
                "type": "fixed",
                "name": "Money",
                "size": 8,
                "logicalType": "decimal",
                "precision": 18,
                "scale": 4,
            },
        },
        {
            "name": "nested",
            "type": {"type": "array", "items": {"type": "map", "values": {"type": "array", "items": "int"}}},
        },
    ],
}

#: schema id → schema, as registered
SCHEMAS: dict[int, Any] = {1: SQL_ENVELOPE, 2: MONGO_ENVELOPE, 3: KEY, 4: COMPLEX}
#: the id under which the schema-mode input's own schema text is registered
SCHEMA_MODE_ID = 99

_SQL_ROW = {
    "id": 10001,
    "customer_email": "fuzz@example.org",
    "amount": b"\x01\x86\xa0",
    "ratio": {"scale": 3, "value": b"\x30\x39"},
    "created": 1_767_225_600_123_456,
    "day": 20_454,
    "zoned": "2026-01-01T00:00:00.123456Z",
    "seen": 1_767_225_600_123,
    "seen_us": 1_767_225_600_123_456,
    "at": 3_600_000,
    "at_us": 3_600_000_001,
    "born": -25_000,
    "uid": "0b7f7a3e-5c1c-4c63-9a5b-1f1e3c4d5e6f",
    "blob": b"\x00\xff",
    "score": 1.5,
    "weight": -0.25,
    "paid": True,
    "tags": ["a", "b"],
}
_SQL_SOURCE_VALUE = {
    "version": "2.7.3.Final",
    "connector": "postgresql",
    "name": "pg",
    "ts_ms": 1_767_225_600_000,
    "snapshot": "false",
    "db": "shop",
    "schema": "public",
    "table": "orders",
    "txId": 771,
    "lsn": 24_023_128,
}
_MONGO_SOURCE = {
    "connector": "mongodb",
    "name": "cdc",
    "ts_ms": 1_767_225_600_000,
    "db": "Facilitron_common",
    "collection": "users",
    "ord": 3,
    "txnNumber": None,
}

#: (schema id, record) pairs the seeds are encoded from
# fmt: off
RECORDS: list[tuple[int, Any]] = [
    (1, {"before": None, "after": _SQL_ROW, "source": _SQL_SOURCE_VALUE, "op": "c", "ts_ms": 1_767_225_600_001}),
    (1, {"before": _SQL_ROW, "after": {**_SQL_ROW, "amount": b"\xff\x00"}, "source": _SQL_SOURCE_VALUE, "op": "u",
         "transaction": {"id": "771:24023128", "total_order": 2, "data_collection_order": 1}}),
    (1, {"before": _SQL_ROW, "after": None, "source": _SQL_SOURCE_VALUE, "op": "d", "ts_ms": None}),
    (2, {"before": None, "updateDescription": None, "source": _MONGO_SOURCE, "op": "c", "ts_ms": 1_767_225_600_001,
         "after": json.dumps({"_id": {"$oid": "5f1e3c4d5e6f0b7f7a3e5c1c"}, "email": "a@example.org",
                              "tags": [1, {"$numberLong": "9007199254740993"}]})}),
    (2, {"before": None, "after": None, "source": _MONGO_SOURCE, "op": "u", "ts_ms": 1_767_225_600_002,
         "updateDescription": {"removedFields": ["phone"],
                               "updatedFields": json.dumps({"contacts.0.email": "b@example.org", "tags.3": 1})}}),
    (3, {"id": 10001}),
    (4, {"op": "c", "attrs": {"a": 1, "b": "x", "c": None, "d": float("nan")}, "color": "GREEN",
         "hash": b"\x01\x02\x03\x04", "money": b"\x00\x00\x00\x00\x00\x01\x86\xa0", "nested": [{"k": [1, 2]}]}),
]
# fmt: on


class NotFound(Exception):
    """What the registry client raises for an unknown id."""

    http_status_code = 404


class MockRegistry:
    """``get_schema(id)`` over :data:`SCHEMAS` plus one schema text of the current input."""

    def __init__(self, schema_text: str | None = None) -> None:
        self.schema_text = schema_text

    def get_schema(self, schema_id: int) -> Any:
        if schema_id == SCHEMA_MODE_ID and self.schema_text is not None:
            return SimpleNamespace(schema_str=self.schema_text, schema_type="AVRO")
        if schema_id not in SCHEMAS:
            raise NotFound()
        return SimpleNamespace(schema_str=json.dumps(SCHEMAS[schema_id]), schema_type="AVRO")


def frame(schema_id: int, schema: Any, record: Any) -> bytes:
    """Confluent wire format: magic byte 0, the 4-byte schema id, the Avro binary record."""
    import fastavro

    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), record)
    return b"\x00" + schema_id.to_bytes(4, "big") + buf.getvalue()


def schema_mode_input(schema: Any, record: Any) -> bytes:
    """An input of the Avro target's schema mode: ``0x01``, the schema text's length (2 bytes),
    the schema text, the Avro body."""
    text = json.dumps(schema).encode()
    body = frame(SCHEMA_MODE_ID, schema, record)[5:]
    return b"\x01" + len(text).to_bytes(2, "big") + text + body
