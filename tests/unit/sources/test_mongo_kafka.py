"""MongoDB Kafka source connector change stream documents."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamproc.errors import DecodeError
from streamproc.model import Op, Skip
from streamproc.sources import Decoder

from ._support import dumps

TOPIC = "shop.orders"
OID = "63496b5280d076018b330536"


def change(kind: str, **fields: Any) -> dict[str, Any]:
    ev = {
        "_id": {"_data": "8263496B53000000022B"},
        "operationType": kind,
        "clusterTime": {"$timestamp": {"t": 1665755987, "i": 2}},
        "ns": {"db": "shop", "coll": "orders"},
        "documentKey": {"_id": {"$oid": OID}},
    }
    ev.update(fields)
    return ev


@pytest.mark.parametrize("kind", ["drop", "rename", "dropDatabase", "invalidate", "createIndexes", "create"])
def test_non_data_operations_are_control_skips(decoder: Decoder, kind: str) -> None:
    assert decoder.decode_json(TOPIC, None, change(kind)) == Skip("mongo-kafka", "control")


def test_string_value_and_string_payload_envelope(decoder: Decoder) -> None:
    ev = change(
        "insert", fullDocument={"_id": {"$oid": OID}, "qty": {"$numberInt": "3"}}, wallTime={"$date": 1665755987015}
    )
    as_string = decoder.decode(TOPIC, None, dumps(json.dumps(ev)))
    as_envelope = decoder.decode(TOPIC, None, dumps({"schema": {"type": "string"}, "payload": json.dumps(ev)}))
    assert as_string.to_json() == as_envelope.to_json()
    assert as_string.format == "mongo-kafka" and as_string.op is Op.INSERT
    assert as_string.after == {"_id": OID, "qty": 3}
    assert as_string.ts_ms == 1665755987015


def test_update_description_and_update_lookup(decoder: Decoder) -> None:
    ev = decoder.decode_json(
        TOPIC,
        None,
        change(
            "update",
            updateDescription={
                "updatedFields": {"items.2.qty": {"$numberLong": "5"}, "seen": {"$date": 0}},
                "removedFields": ["coupon"],
                "truncatedArrays": [{"field": "log", "newSize": 3}],
            },
            fullDocument={"_id": {"$oid": OID}, "seen": {"$date": 0}},
        ),
    )
    assert ev.op is Op.UPDATE
    assert ev.update.to_json() == {"set": {"items.2.qty": 5, "seen": "1970-01-01T00:00:00.000Z"}, "unset": ["coupon"]}
    assert ev.after == {"_id": OID, "seen": "1970-01-01T00:00:00.000Z"}
    assert ev.key == {"_id": OID}
    assert ev.ts_ms == 1665755987000  # no wallTime: clusterTime seconds


def test_schema_output_with_string_fields(decoder: Decoder) -> None:
    ev = decoder.decode_json(
        TOPIC,
        None,
        {
            "_id": '{"_data": "82"}',
            "operationType": "replace",
            "clusterTime": '{"$timestamp": {"t": 10, "i": 1}}',
            "ns": {"db": "shop", "coll": "orders"},
            "documentKey": '{"_id": 9}',
            "fullDocument": '{"_id": 9, "n": {"$numberLong": "1"}}',
        },
    )
    assert ev.op is Op.REPLACE and ev.after == {"_id": 9, "n": 1}
    assert ev.key == {"_id": 9} and ev.position == (10, 1)


def test_delete_with_pre_image_and_sharded_document_key(decoder: Decoder) -> None:
    ev = decoder.decode_json(
        TOPIC,
        None,
        change(
            "delete",
            documentKey={"_id": 4, "region": "eu"},
            fullDocumentBeforeChange={"_id": 4, "region": "eu", "n": 1},
        ),
    )
    assert ev.op is Op.DELETE and ev.after is None
    assert ev.before == {"_id": 4, "region": "eu", "n": 1}
    assert ev.key == {"_id": 4}


def test_positions_order_and_redelivery(decoder: Decoder) -> None:
    a = decoder.decode_json(TOPIC, None, change("delete"))
    b = decoder.decode_json(TOPIC, None, change("delete", clusterTime={"$timestamp": {"t": 1665755987, "i": 3}}))
    assert a.position == (1665755987, 2) == decoder.decode_json(TOPIC, None, change("delete")).position
    assert a.position < b.position


def test_resume_token_kafka_key_is_not_used_as_identity(decoder: Decoder) -> None:
    ev = change("delete")
    del ev["documentKey"]
    assert decoder.decode_json(TOPIC, {"_id": {"_data": "8263"}}, ev).key == {}
    assert decoder.decode_json(TOPIC, {"_id": {"$oid": OID}}, ev).key == {"_id": OID}


def test_malformed_cluster_time_and_missing_full_document(decoder: Decoder) -> None:
    with pytest.raises(DecodeError, match="'clusterTime' is not a BSON timestamp"):
        decoder.decode_json(TOPIC, None, change("delete", clusterTime={"t": "x"}))
    with pytest.raises(DecodeError, match="^mongo-kafka: insert without 'fullDocument'$"):
        decoder.decode_json(TOPIC, None, change("insert"))


def test_full_document_only_needs_the_format(decoder: Decoder) -> None:
    doc = {"_id": {"$oid": OID}, "n": 1}
    with pytest.raises(DecodeError, match="set the format for topic 'pfx.shop.orders'"):
        decoder.decode_json("pfx.shop.orders", None, doc)
    ev = Decoder(formats={"pfx.shop.orders": "mongo-kafka"}).decode_json("pfx.shop.orders", None, doc)
    assert ev.op is Op.UPSERT and ev.namespace == "shop.orders" and ev.key == {"_id": OID}
