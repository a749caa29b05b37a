"""Debezium PostgreSQL: Connect logical types, keys, TOAST placeholders, positions."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from streamproc.errors import DecodeError
from streamproc.model import Op, Skip
from streamproc.sources import Decoder

from ._support import dumps

TOPIC = "dbserver1.inventory.orders"
FMT = "debezium-sql"


def b64int(number: int, length: int) -> str:
    return base64.b64encode(number.to_bytes(length, "big", signed=True)).decode()


def source(lsn: int | None = 34466480, **extra: Any) -> dict[str, Any]:
    src = {
        "connector": "postgresql",
        "name": "dbserver1",
        "ts_ms": 1733906311010,
        "snapshot": "false",
        "db": "postgres",
        "schema": "inventory",
        "table": "orders",
        "txId": 767,
        "lsn": lsn,
    }
    src.update(extra)
    return src


def envelope(op: str = "c", before: Any = None, after: Any = None, **src: Any) -> dict[str, Any]:
    return {"before": before, "after": after, "source": source(**src), "op": op, "ts_ms": 1733906311190}


COLUMNS = [
    {"type": "int32", "optional": False, "field": "id"},
    {
        "type": "bytes",
        "optional": False,
        "name": "org.apache.kafka.connect.data.Decimal",
        "version": 1,
        "parameters": {"scale": "2", "connect.decimal.precision": "10"},
        "field": "amount",
    },
    {
        "type": "bytes",
        "optional": True,
        "name": "org.apache.kafka.connect.data.Decimal",
        "parameters": {"scale": "1"},
        "field": "delta",
    },
    {
        "type": "struct",
        "optional": True,
        "name": "io.debezium.data.VariableScaleDecimal",
        "fields": [{"type": "int32", "field": "scale"}, {"type": "bytes", "field": "value"}],
        "field": "ratio",
    },
    {"type": "int32", "optional": True, "name": "io.debezium.time.Date", "field": "day"},
    {"type": "int32", "optional": True, "name": "io.debezium.time.Time", "field": "at_ms"},
    {"type": "int64", "optional": True, "name": "io.debezium.time.MicroTime", "field": "at_us"},
    {"type": "int64", "optional": True, "name": "io.debezium.time.NanoTime", "field": "at_ns"},
    {"type": "int64", "optional": True, "name": "io.debezium.time.Timestamp", "field": "ts3"},
    {"type": "int64", "optional": True, "name": "io.debezium.time.MicroTimestamp", "field": "ts6"},
    {"type": "int64", "optional": True, "name": "io.debezium.time.NanoTimestamp", "field": "ts9"},
    {"type": "int64", "optional": True, "name": "io.debezium.time.MicroTimestamp", "field": "forever"},
    {"type": "string", "optional": True, "name": "io.debezium.time.ZonedTimestamp", "field": "tstz"},
    {"type": "int32", "optional": True, "name": "org.apache.kafka.connect.data.Date", "field": "kday"},
    {"type": "int64", "optional": True, "name": "org.apache.kafka.connect.data.Timestamp", "field": "kts"},
    {"type": "int32", "optional": True, "name": "org.apache.kafka.connect.data.Time", "field": "ktime"},
    {"type": "bytes", "optional": True, "field": "blob"},
    {"type": "array", "optional": True, "items": {"type": "int32", "name": "io.debezium.time.Date"}, "field": "days"},
]
ROW_WIRE = {
    "id": 7,
    "amount": b64int(12345, 2),
    "delta": b64int(-15, 1),
    "ratio": {"scale": 3, "value": b64int(1234567, 3)},
    "day": 19000,
    "at_ms": 3723004,
    "at_us": 3723000005,
    "at_ns": 3723000000007,
    "ts3": 1529507596945,
    "ts6": 1529507596945104,
    "ts9": 1529507596945104123,
    "forever": 9223372036825200000,
    "tstz": "2018-06-20T13:13:16.945104Z",
    "kday": 0,
    "kts": 0,
    "ktime": 1,
    "blob": "AAE=",
    "days": [0, 1],
}
ROW_PLAIN = {
    "id": 7,
    "amount": "123.45",
    "delta": "-1.5",
    "ratio": "1234.567",
    "day": "2022-01-08",
    "at_ms": "01:02:03.004",
    "at_us": "01:02:03.000005",
    "at_ns": "01:02:03.000000007",
    "ts3": "2018-06-20T15:13:16.945Z",
    "ts6": "2018-06-20T15:13:16.945104Z",
    "ts9": "2018-06-20T15:13:16.945104123Z",
    "forever": "infinity",  # PostgreSQL infinity (Debezium's sentinel), not a date in 294247
    "tstz": "2018-06-20T13:13:16.945104Z",
    "kday": "1970-01-01",
    "kts": "1970-01-01T00:00:00.000Z",
    "ktime": "00:00:00.001",
    "blob": "AAE=",
    "days": ["1970-01-01", "1970-01-02"],
}


def with_schema(payload: dict[str, Any]) -> dict[str, Any]:
    row = {"type": "struct", "optional": True, "name": "dbserver1.inventory.orders.Value", "fields": COLUMNS}
    schema = {
        "type": "struct",
        "name": "dbserver1.inventory.orders.Envelope",
        "fields": [
            dict(row, field="before"),
            dict(row, field="after"),
            {"type": "struct", "name": "io.debezium.connector.postgresql.Source", "fields": [], "field": "source"},
            {"type": "string", "field": "op"},
            {"type": "int64", "optional": True, "field": "ts_ms"},
        ],
    }
    return {"schema": schema, "payload": payload}


def test_connect_logical_types_are_converted_with_a_schema(decoder: Decoder) -> None:
    ev = decoder.decode(TOPIC, None, dumps(with_schema(envelope("c", after=ROW_WIRE))))
    assert ev.format == FMT and ev.op is Op.INSERT
    assert ev.after == ROW_PLAIN


def test_values_stay_as_sent_without_a_schema(decoder: Decoder) -> None:
    ev = decoder.decode_json(TOPIC, None, envelope("c", after=ROW_WIRE))
    assert ev.after == ROW_WIRE


def test_undecodable_decimal_is_poison_without_the_value(decoder: Decoder) -> None:
    bad = dict(ROW_WIRE, amount="!!not-base64!!")
    with pytest.raises(DecodeError) as info:
        decoder.decode_json(TOPIC, None, with_schema(envelope("c", after=bad)))
    assert str(info.value) == "debezium-sql: 'after' does not match its Connect schema"


def test_composite_primary_key_with_key_schema(decoder: Decoder) -> None:
    key = {
        "schema": {
            "type": "struct",
            "name": "dbserver1.inventory.order_lines.Key",
            "fields": [
                {"type": "int32", "optional": False, "field": "order_id"},
                {"type": "int32", "optional": False, "name": "io.debezium.time.Date", "field": "day"},
                {"type": "string", "optional": False, "field": "sku"},
            ],
        },
        "payload": {"order_id": 10, "day": 1, "sku": "A-1"},
    }
    ev = decoder.decode(
        TOPIC, dumps(key), dumps(envelope("u", after={"order_id": 10, "day": 1, "sku": "A-1", "qty": 2}))
    )
    assert ev.key == {"order_id": 10, "day": "1970-01-02", "sku": "A-1"}


def test_key_fields_used_when_the_kafka_key_is_null() -> None:
    dec = Decoder(key_fields={TOPIC: ["order_id", "sku"]})
    ins = dec.decode_json(TOPIC, None, envelope("c", after={"order_id": 1, "sku": "x", "qty": 1}))
    assert ins.key == {"order_id": 1, "sku": "x"}
    dele = dec.decode_json(TOPIC, None, envelope("d", before={"order_id": 1, "sku": "x"}))
    assert dele.key == {"order_id": 1, "sku": "x"}
    assert Decoder().decode_json(TOPIC, None, envelope("c", after={"order_id": 1})).key == {}


@pytest.mark.parametrize(
    "placeholder",
    [
        "__debezium_unavailable_value",
        ["__debezium_unavailable_value"],
        base64.b64encode(b"__debezium_unavailable_value").decode(),
    ],
    ids=["text", "array", "bytea"],
)
def test_toast_placeholder_variants(decoder: Decoder, placeholder: Any) -> None:
    after = {"id": 1, "bio": placeholder, "name": "x"}
    ev = decoder.decode_json(TOPIC, {"id": 1}, envelope("u", before={"id": 1, "bio": placeholder}, after=after))
    assert ev.op is Op.UPDATE and ev.after is None
    assert ev.update.to_json() == {"set": {"id": 1, "name": "x"}, "unset": []}
    assert ev.before == {"id": 1}


def test_update_without_placeholder_keeps_full_after(decoder: Decoder) -> None:
    ev = decoder.decode_json(TOPIC, {"id": 1}, envelope("u", after={"id": 1, "bio": "long text"}))
    assert ev.after == {"id": 1, "bio": "long text"} and ev.update is None


def test_lsn_beyond_2_53_is_exact_and_orders_events(decoder: Decoder) -> None:
    lsn = 2**60 + 1
    text = dumps(envelope("u", after={"id": 1}, lsn=lsn))
    first = decoder.decode(TOPIC, b'{"id": 1}', text)
    assert first.position == (lsn,) and type(first.position[0]) is int
    again = decoder.decode(TOPIC, b'{"id": 1}', text)
    later = decoder.decode(TOPIC, b'{"id": 1}', dumps(envelope("u", after={"id": 1}, lsn=lsn + 56)))
    assert first.position == again.position
    assert first.position < later.position


def test_sequence_does_not_change_the_position_shape(decoder: Decoder) -> None:
    ev = decoder.decode_json(TOPIC, None, envelope("c", after={"id": 1}, sequence='["100","200"]', lsn=200))
    assert ev.position == (200,)


def test_mysql_style_source_without_lsn_falls_back_to_offset(decoder: Decoder) -> None:
    value = {
        "op": "c",
        "after": {"id": 1},
        "source": {
            "connector": "mysql",
            "db": "shop",
            "table": "orders",
            "ts_ms": 5,
            "file": "mysql-bin.000003",
            "pos": 154,
        },
    }
    ev = decoder.decode_json("mysql1.shop.orders", {"id": 1}, value, offset=99)
    assert ev.namespace == "shop.orders"
    assert ev.position == (99,)
    assert ev.ts_ms == 5


def test_heartbeat_and_message_skips(decoder: Decoder) -> None:
    assert decoder.decode_json("__debezium-heartbeat.dbserver1", {"serverName": "dbserver1"}, {"ts_ms": 1}) == Skip(
        FMT, "heartbeat"
    )
    assert decoder.decode_json("anything", {"serverName": "dbserver1"}, {"ts_ms": 1}, fmt=FMT) == Skip(FMT, "heartbeat")
    msg = {"op": "m", "source": source(), "message": {"prefix": "p", "content": "Ymfy"}}
    assert decoder.decode_json("dbserver1.message", None, msg) == Skip(FMT, "message")


def test_value_without_op_under_fixed_format_is_poison(decoder: Decoder) -> None:
    with pytest.raises(DecodeError, match="^debezium-sql: value has no 'op' field$"):
        decoder.decode_json(TOPIC, None, {"id": 1, "name": "plain row"}, fmt=FMT)
