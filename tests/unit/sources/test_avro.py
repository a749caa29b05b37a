"""Confluent-framed Avro: Debezium PostgreSQL and MongoDB envelopes, registry errors, caching."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from streamproc.errors import DecodeError, ServiceUnavailable
from streamproc.model import Op
from streamproc.sources import Decoder

from ._support import FakeRegistry, frame

PG_TOPIC = "dbserver1.inventory.orders"
MONGO_TOPIC = "fulfillment.inventory.customers"

PG_ROW = {
    "type": "record",
    "name": "Value",
    "namespace": "dbserver1.inventory.orders",
    "fields": [
        {"name": "id", "type": "int"},
        {
            "name": "amount",
            "type": {
                "type": "bytes",
                "logicalType": "decimal",
                "precision": 10,
                "scale": 2,
                "connect.name": "org.apache.kafka.connect.data.Decimal",
                "connect.parameters": {"scale": "2"},
            },
        },
        {
            "name": "ratio",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "VariableScaleDecimal",
                    "namespace": "io.debezium.data",
                    "connect.name": "io.debezium.data.VariableScaleDecimal",
                    "fields": [{"name": "scale", "type": "int"}, {"name": "value", "type": "bytes"}],
                },
            ],
            "default": None,
        },
        {
            "name": "created",
            "type": ["null", {"type": "long", "connect.name": "io.debezium.time.MicroTimestamp"}],
            "default": None,
        },
        {"name": "day", "type": {"type": "int", "connect.name": "io.debezium.time.Date"}},
        {"name": "born", "type": ["null", {"type": "int", "logicalType": "date"}], "default": None},
        {"name": "seen", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "seen_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "at", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "blob", "type": ["null", "bytes"], "default": None},
        {"name": "score", "type": "double"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
    ],
}
PG_ENVELOPE = {
    "type": "record",
    "name": "Envelope",
    "namespace": "dbserver1.inventory.orders",
    "fields": [
        {"name": "before", "type": ["null", PG_ROW], "default": None},
        {"name": "after", "type": ["null", "Value"], "default": None},
        {
            "name": "source",
            "type": {
                "type": "record",
                "name": "Source",
                "namespace": "io.debezium.connector.postgresql",
                "fields": [
                    {"name": "connector", "type": "string"},
                    {"name": "ts_ms", "type": "long"},
                    {"name": "db", "type": "string"},
                    {"name": "schema", "type": "string"},
                    {"name": "table", "type": "string"},
                    {"name": "lsn", "type": ["null", "long"], "default": None},
                ],
            },
        },
        {"name": "op", "type": "string"},
        {"name": "ts_ms", "type": ["null", "long"], "default": None},
    ],
}
PG_KEY = {
    "type": "record",
    "name": "Key",
    "namespace": "dbserver1.inventory.orders",
    "fields": [{"name": "id", "type": "int"}],
}
PG_RECORD = {
    "before": None,
    "after": {
        "id": 7,
        "amount": Decimal("123.45"),
        "ratio": {"scale": 3, "value": (1234567).to_bytes(3, "big")},
        "created": 1529507596945104,
        "day": 19000,
        "born": dt.date(1990, 5, 17),
        "seen": dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC),
        "seen_us": dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
        "at": dt.time(1, 2, 3, 4000),
        "uid": "00112233-4455-6677-8899-aabbccddeeff",
        "blob": b"\x00\x01",
        "score": float("nan"),
        "tags": ["a", "b"],
    },
    "source": {
        "connector": "postgresql",
        "ts_ms": 1700000000000,
        "db": "postgres",
        "schema": "inventory",
        "table": "orders",
        "lsn": 2**62 + 1,
    },
    "op": "c",
    "ts_ms": 1700000000001,
}
PG_EXPECTED_AFTER = {
    "id": 7,
    "amount": "123.45",
    "ratio": "1234.567",
    "created": "2018-06-20T15:13:16.945104Z",
    "day": "2022-01-08",
    "born": "1990-05-17",
    "seen": "2024-01-02T03:04:05.678Z",
    "seen_us": "2024-01-02T03:04:05.678901Z",
    "at": "01:02:03.004",
    "uid": "00112233-4455-6677-8899-aabbccddeeff",
    "blob": "AAE=",
    "score": "NaN",
    "tags": ["a", "b"],
}

MONGO_ENVELOPE = {
    "type": "record",
    "name": "Envelope",
    "namespace": "fulfillment.inventory.customers",
    "fields": [
        {
            "name": "before",
            "type": ["null", {"type": "string", "connect.name": "io.debezium.data.Json"}],
            "default": None,
        },
        {
            "name": "after",
            "type": ["null", {"type": "string", "connect.name": "io.debezium.data.Json"}],
            "default": None,
        },
        {
            "name": "updateDescription",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "updatedescription",
                    "namespace": "io.debezium.connector.mongodb.changestream",
                    "fields": [
                        {
                            "name": "removedFields",
                            "type": ["null", {"type": "array", "items": "string"}],
                            "default": None,
                        },
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
                    {"name": "ts_ms", "type": "long"},
                    {"name": "db", "type": "string"},
                    {"name": "collection", "type": "string"},
                    {"name": "ord", "type": "int"},
                ],
            },
        },
        {"name": "op", "type": ["null", "string"], "default": None},
        {"name": "ts_ms", "type": ["null", "long"], "default": None},
    ],
}
MONGO_KEY = {
    "type": "record",
    "name": "Key",
    "namespace": "fulfillment.inventory.customers",
    "fields": [{"name": "id", "type": "string"}],
}
MONGO_RECORD = {
    "before": None,
    "after": '{"_id": {"$numberLong": "1004"}, "when": {"$date": 1783101585729}}',
    "updateDescription": {
        "removedFields": ["email"],
        "updatedFields": '{"when": {"$date": "2026-07-03T17:59:45.729Z"}}',
    },
    "source": {"connector": "mongodb", "ts_ms": 1558965508000, "db": "inventory", "collection": "customers", "ord": 3},
    "op": "u",
    "ts_ms": 1558965515240,
}


def test_postgres_envelope_logical_types() -> None:
    reg = FakeRegistry()
    value_id, key_id = reg.add(PG_ENVELOPE), reg.add(PG_KEY)
    dec = Decoder(schema_registry=reg)
    ev = dec.decode(PG_TOPIC, frame(key_id, PG_KEY, {"id": 7}), frame(value_id, PG_ENVELOPE, PG_RECORD))
    assert ev.format == "debezium-sql" and ev.op is Op.INSERT
    assert ev.key == {"id": 7}
    assert ev.after == PG_EXPECTED_AFTER
    assert ev.namespace == "inventory.orders"
    assert ev.position == (2**62 + 1,)
    assert ev.ts_ms == 1700000000000


def test_mongodb_envelope() -> None:
    reg = FakeRegistry()
    value_id, key_id = reg.add(MONGO_ENVELOPE), reg.add(MONGO_KEY)
    ev = Decoder(schema_registry=reg).decode(
        MONGO_TOPIC, frame(key_id, MONGO_KEY, {"id": "1004"}), frame(value_id, MONGO_ENVELOPE, MONGO_RECORD)
    )
    assert ev.format == "debezium-mongodb" and ev.op is Op.UPDATE
    assert ev.key == {"_id": 1004}
    assert ev.after == {"_id": 1004, "when": "2026-07-03T17:59:45.729Z"}
    assert ev.update.to_json() == {"set": {"when": "2026-07-03T17:59:45.729Z"}, "unset": ["email"]}
    assert ev.position == (1558965508000, 3, 0)


def test_schemas_are_cached_by_id() -> None:
    reg = FakeRegistry()
    value_id = reg.add(MONGO_ENVELOPE)
    dec = Decoder(schema_registry=reg)
    data = frame(value_id, MONGO_ENVELOPE, MONGO_RECORD)
    first, second = dec.decode(MONGO_TOPIC, None, data), dec.decode(MONGO_TOPIC, None, data)
    assert first.to_json() == second.to_json()
    assert reg.lookups == 1


def test_unknown_schema_id_is_poison() -> None:
    with pytest.raises(DecodeError, match="schema id 99 is not in the schema registry"):
        Decoder(schema_registry=FakeRegistry()).decode("t", None, b"\x00\x00\x00\x00\x63\x02")


def test_registry_outage_is_transient_not_poison() -> None:
    reg = FakeRegistry()
    reg.fail_with = ConnectionError("refused")
    with pytest.raises(ServiceUnavailable, match="schema id 1"):
        Decoder(schema_registry=reg).decode("t", None, b"\x00\x00\x00\x00\x01\x02")


def test_data_not_matching_its_schema_is_poison() -> None:
    reg = FakeRegistry()
    value_id = reg.add(PG_ENVELOPE)
    with pytest.raises(DecodeError, match=f"does not match schema id {value_id}"):
        Decoder(schema_registry=reg).decode("t", None, b"\x00" + value_id.to_bytes(4, "big") + b"\x02\xff")


def test_non_avro_schema_types_are_rejected() -> None:
    reg = FakeRegistry()
    schema_id = reg.add({"type": "object"}, schema_type="JSON")
    with pytest.raises(DecodeError, match="is JSON; only Avro is supported"):
        Decoder(schema_registry=reg).decode("t", None, b"\x00" + schema_id.to_bytes(4, "big") + b"{}")


def test_confluent_mock_registry_and_avro_serializer() -> None:
    schema_registry = pytest.importorskip(
        "confluent_kafka.schema_registry",
        reason="confluent_kafka.schema_registry needs its optional dependencies (authlib)",
    )
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    client_cls = schema_registry.SchemaRegistryClient
    registry = client_cls.new_client({"url": "mock://streamproc-test"})
    other = client_cls.new_client({"url": "mock://streamproc-test"})
    # This confluent-kafka version keeps a store per mock instance (same url or not): the
    # serializer and the decoder must share one client instance.
    pg_value = AvroSerializer(registry, json.dumps(PG_ENVELOPE))
    pg_key = AvroSerializer(registry, json.dumps(PG_KEY))
    mongo_value = AvroSerializer(registry, json.dumps(MONGO_ENVELOPE))
    mongo_key = AvroSerializer(registry, json.dumps(MONGO_KEY))

    def ser(serializer: Any, topic: str, field: Any, obj: Any) -> bytes:
        return serializer(obj, SerializationContext(topic, field))

    pg = (ser(pg_key, PG_TOPIC, MessageField.KEY, {"id": 7}), ser(pg_value, PG_TOPIC, MessageField.VALUE, PG_RECORD))
    mongo = (
        ser(mongo_key, MONGO_TOPIC, MessageField.KEY, {"id": "1004"}),
        ser(mongo_value, MONGO_TOPIC, MessageField.VALUE, MONGO_RECORD),
    )
    assert pg[1][0] == 0

    dec = Decoder(schema_registry=registry)
    pg_event = dec.decode(PG_TOPIC, *pg)
    assert pg_event.format == "debezium-sql" and pg_event.key == {"id": 7}
    assert pg_event.after == PG_EXPECTED_AFTER
    mongo_event = dec.decode(MONGO_TOPIC, *mongo)
    assert mongo_event.format == "debezium-mongodb" and mongo_event.key == {"_id": 1004}
    assert mongo_event.update.unset == ("email",)

    shares_state = True
    try:
        other.get_schema(int.from_bytes(pg[1][1:5], "big"))
    except Exception:  # noqa: BLE001 - the mock registry's error type for an unknown id is not public
        shares_state = False
    if shares_state:
        assert Decoder(schema_registry=other).decode(PG_TOPIC, *pg).key == {"id": 7}
    else:
        with pytest.raises(DecodeError, match="is not in the schema registry"):
            Decoder(schema_registry=other).decode(PG_TOPIC, *pg)
