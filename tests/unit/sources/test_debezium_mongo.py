"""Debezium MongoDB: keys of every _id type, update shapes, positions and ordering."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamproc.errors import DecodeError
from streamproc.model import Op, Skip
from streamproc.sources import Decoder

from ._support import dumps

TOPIC = "fulfillment.inventory.customers"
FMT = "debezium-mongodb"


def event(op: str = "u", *, ts: int = 1558965508000, ord_: int = 1, **fields: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "op": op,
        "ts_ms": 1465491461815,
        "source": {
            "connector": "mongodb",
            "name": "fulfillment",
            "ts_ms": ts,
            "db": "inventory",
            "collection": "customers",
            "ord": ord_,
            "snapshot": "false",
        },
    }
    value.update(fields)
    return value


@pytest.mark.parametrize(
    ("key_id", "expected"),
    [
        ("1004", 1004),
        ('"1004"', "1004"),
        ('"abc"', "abc"),
        ('{"$oid" : "596e275826f08b2730779e1f"}', "596e275826f08b2730779e1f"),
        ('{"$oid": "596E275826F08B2730779E1F"}', "596e275826f08b2730779e1f"),
        ('{"$binary" : "a2Fma2E=", "$type" : "00"}', "a2Fma2E="),
        ('{"$binary": {"base64": "a2Fma2E=", "subType": "00"}}', "a2Fma2E="),
        ('{"$numberLong": "9007199254740993"}', 9007199254740993),
        ("9007199254740993", 9007199254740993),
        ('{"$date": "2020-01-01T00:00:00Z"}', "2020-01-01T00:00:00.000Z"),
        ('{"a": 1, "b": {"$numberLong": "2"}}', {"a": 1, "b": 2}),
    ],
)
def test_key_types(decoder: Decoder, key_id: str, expected: Any) -> None:
    ev = decoder.decode_json(TOPIC, {"id": key_id}, event("d"), fmt=FMT)
    assert ev.key == {"_id": expected}
    # the same through the wire, with a Connect envelope on the key
    key = dumps(
        {"schema": {"type": "struct", "fields": [{"field": "id", "type": "string"}]}, "payload": {"id": key_id}}
    )
    assert decoder.decode(TOPIC, key, dumps(event("d"))).key == {"_id": expected}


def test_key_that_is_not_extended_json_is_poison(decoder: Decoder) -> None:
    with pytest.raises(DecodeError, match="^debezium-mongodb: key 'id' is not valid Extended JSON$"):
        decoder.decode_json(TOPIC, {"id": "{secret-value"}, event("d"), fmt=FMT)


def test_invalid_after_message_names_the_field_not_the_data(decoder: Decoder) -> None:
    value = event("c", after='{"_id": 1, "ssn": "123-45-6789", ')
    with pytest.raises(DecodeError) as info:
        decoder.decode_json(TOPIC, {"id": "1"}, value)
    assert str(info.value).startswith("debezium-mongodb: 'after' is not valid Extended JSON (Expecting ")
    assert "6789" not in str(info.value)


def test_strict_mode_after_with_nan_tokens(decoder: Decoder) -> None:
    value = event("c", after='{"_id" : {"$numberLong" : "1"}, "score" : NaN, "big" : 1.0E+20, "inf" : -Infinity}')
    ev = decoder.decode(TOPIC, dumps({"id": "1"}), dumps(value))
    assert ev.after == {"_id": 1, "score": "NaN", "big": 1e20, "inf": "-Infinity"}


def test_legacy_mode_after_and_relaxed_updated_fields_agree(decoder: Decoder) -> None:
    value = event(
        after='{"_id": {"$numberLong": "1"}, "seen": {"$date": 1783101585729}, "n": {"$numberLong": "5"}}',
        updateDescription={
            "updatedFields": '{"seen": {"$date": "2026-07-03T17:59:45.729Z"}, "n": 5}',
            "removedFields": None,
            "truncatedArrays": None,
        },
    )
    ev = decoder.decode_json(TOPIC, {"id": "1"}, value, fmt=FMT)
    assert ev.after["seen"] == ev.update.set["seen"] == "2026-07-03T17:59:45.729Z"
    assert ev.after["n"] == ev.update.set["n"] == 5


def test_update_description_paths_and_truncated_arrays(decoder: Decoder) -> None:
    value = event(
        updateDescription={
            "updatedFields": '{"address.city": "Oslo", "tags.1": "x"}',
            "removedFields": ["phone", "address.zip"],
            "truncatedArrays": [{"field": "history", "size": 2}],
        }
    )
    ev = decoder.decode_json(TOPIC, {"id": "7"}, value, fmt=FMT)
    assert ev.op is Op.UPDATE
    assert ev.after is None and ev.before is None
    assert ev.update.to_json() == {"set": {"address.city": "Oslo", "tags.1": "x"}, "unset": ["phone", "address.zip"]}
    assert "history" not in json.dumps(ev.update.to_json())


def test_oplog_patch_variants(decoder: Decoder) -> None:
    unset = decoder.decode_json(TOPIC, {"id": "1"}, event(patch='{"$unset": {"a": true}, "$v": 1}'), fmt=FMT)
    assert unset.update.to_json() == {"set": {}, "unset": ["a"]}
    replacement = decoder.decode_json(TOPIC, {"id": "1"}, event(patch='{"_id": 1, "name": "x"}'), fmt=FMT)
    assert replacement.op is Op.REPLACE
    assert replacement.after == {"_id": 1, "name": "x"} and replacement.update is None
    with pytest.raises(DecodeError, match=r"oplog 'patch' operator \$inc is not supported"):
        decoder.decode_json(TOPIC, {"id": "1"}, event(patch='{"$inc": {"n": 41}}'), fmt=FMT)


def test_update_without_any_change_description_is_poison(decoder: Decoder) -> None:
    with pytest.raises(DecodeError, match="update without"):
        decoder.decode_json(TOPIC, {"id": "1"}, event(), fmt=FMT)


def test_key_from_document_when_kafka_key_missing(decoder: Decoder) -> None:
    created = decoder.decode_json(TOPIC, None, event("c", after='{"_id": {"$oid": "596e275826f08b2730779e1f"}}'))
    assert created.key == {"_id": "596e275826f08b2730779e1f"}
    deleted = decoder.decode_json(TOPIC, None, event("d", filter='{"_id": {"$numberLong": "9"}}'))
    assert deleted.key == {"_id": 9}


def test_redelivery_has_equal_position_and_updates_are_ordered(decoder: Decoder) -> None:
    first = event(ts=1700000000000, ord_=3, updateDescription={"updatedFields": '{"a": 1}'})
    second_same_second = event(ts=1700000000000, ord_=4, updateDescription={"updatedFields": '{"a": 2}'})
    third_later = event(ts=1700000001000, ord_=1, updateDescription={"updatedFields": '{"a": 3}'})
    p1 = decoder.decode(TOPIC, dumps({"id": "1"}), dumps(first)).position
    p1_again = decoder.decode(TOPIC, dumps({"id": "1"}), dumps(first)).position
    p2 = decoder.decode(TOPIC, dumps({"id": "1"}), dumps(second_same_second)).position
    p3 = decoder.decode(TOPIC, dumps({"id": "1"}), dumps(third_later)).position
    assert p1 == p1_again
    assert p1 < p2 < p3
    assert list(p1) < list(p2) < list(p3)  # plain array comparison, as downstream does it


def test_transaction_total_order_breaks_cluster_time_ties(decoder: Decoder) -> None:
    def in_txn(order: int) -> dict[str, Any]:
        return event(
            ts=1700000000000,
            ord_=1,
            updateDescription={"updatedFields": '{"a": 1}'},
            transaction={"id": "lsid:1", "total_order": order, "data_collection_order": order},
        )

    a = decoder.decode_json(TOPIC, {"id": "1"}, in_txn(1), fmt=FMT).position
    b = decoder.decode_json(TOPIC, {"id": "1"}, in_txn(2), fmt=FMT).position
    plain = decoder.decode_json(
        TOPIC, {"id": "1"}, event(ts=1700000000000, ord_=1, updateDescription={"updatedFields": "{}"}), fmt=FMT
    ).position
    assert a == (1700000000000, 1, 1) and b == (1700000000000, 1, 2)
    assert len(plain) == 3 and plain < a < b


def test_big_integers_in_source_survive_the_wire(decoder: Decoder) -> None:
    ts_ns = 1558965508000000001
    text = (
        '{"op": "c", "after": "{\\"_id\\": 1, \\"h\\": 1546547425148721999}",'
        ' "source": {"connector": "mongodb", "ts_ms": 1558965508000, "ts_ns": TS_NS, "ord": 2147483647,'
        ' "db": "inventory", "collection": "customers", "h": 1546547425148721999}}'
    ).replace("TS_NS", str(ts_ns))
    ev = decoder.decode(TOPIC, b'{"id": "1"}', text.encode())
    assert ev.position == (1558965508000, 2147483647, 0)
    assert ev.after == {"_id": 1, "h": 1546547425148721999}


def test_snapshot_read_and_logical_message_skip(decoder: Decoder) -> None:
    snap = decoder.decode_json(TOPIC, {"id": "1"}, event("r", after='{"_id": 1}'), fmt=FMT)
    assert snap.op is Op.SNAPSHOT and snap.after == {"_id": 1}
    assert decoder.decode_json(TOPIC, None, {"op": "m", "source": {"connector": "mongodb"}}, fmt=FMT) == Skip(
        FMT, "message"
    )


def test_heartbeats_are_skipped(decoder: Decoder) -> None:
    assert decoder.decode_json(
        "__debezium-heartbeat.fulfillment", {"serverName": "fulfillment"}, {"ts_ms": 1}, fmt=FMT
    ) == Skip(FMT, "heartbeat")
    assert (
        decoder.decode_json("__debezium-heartbeat.fulfillment", {"serverName": "fulfillment"}, {"ts_ms": 1}).reason
        == "heartbeat"
    )


def test_unknown_op_is_poison(decoder: Decoder) -> None:
    with pytest.raises(DecodeError, match="^debezium-mongodb: unsupported op$"):
        decoder.decode_json(TOPIC, None, event("x", after="{}"), fmt=FMT)
