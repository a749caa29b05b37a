"""Records flattened by ExtractNewDocumentState / ExtractNewRecordState."""

from __future__ import annotations

import pytest

from streamproc.model import Op
from streamproc.sources import Decoder

MONGO_TOPIC = "fulfillment.inventory.customers"
SQL_TOPIC = "dbserver1.public.customers"


def test_mongo_rewritten_delete_with_boolean_flag_is_detected(decoder: Decoder) -> None:
    ev = decoder.decode_json(MONGO_TOPIC, {"id": "1004"}, {"_id": 1004, "__deleted": True})
    assert ev.format == "debezium-mongodb-flat"
    assert ev.op is Op.DELETE
    assert ev.key == {"_id": 1004}
    assert ev.before == {"_id": 1004} and ev.after is None


def test_sql_rewritten_rows_with_string_flags(decoder: Decoder) -> None:
    deleted = decoder.decode_json(SQL_TOPIC, {"id": 3}, {"id": 3, "name": None, "__deleted": "true"})
    assert deleted.format == "debezium-sql-flat" and deleted.op is Op.DELETE
    assert deleted.before == {"id": 3, "name": None} and deleted.key == {"id": 3}
    alive = decoder.decode_json(SQL_TOPIC, {"id": 3}, {"id": 3, "name": "x", "__deleted": "false"})
    assert alive.op is Op.UPSERT and alive.after == {"id": 3, "name": "x"}


@pytest.mark.parametrize(("code", "op"), [("c", Op.INSERT), ("r", Op.SNAPSHOT), ("u", Op.UPDATE), ("d", Op.DELETE)])
def test_sql_op_marker(decoder: Decoder, code: str, op: Op) -> None:
    row = {"id": 1, "v": 2, "__op": code, "__table": "customers", "__lsn": 2**62 + 3, "__source_ts_ms": 1700000000123}
    ev = decoder.decode_json(SQL_TOPIC, None, row)
    assert ev.op is op
    assert ev.namespace == "public.customers"
    assert ev.position == (2**62 + 3,)
    assert ev.ts_ms == 1700000000123
    image = ev.before if op is Op.DELETE else ev.after
    assert image == {"id": 1, "v": 2}


def test_sql_flat_toast_placeholder(decoder: Decoder) -> None:
    row = {"id": 1, "bio": "__debezium_unavailable_value", "__op": "u"}
    ev = decoder.decode_json(SQL_TOPIC, {"id": 1}, row, fmt="debezium-sql-flat")
    assert ev.op is Op.UPDATE and ev.after is None
    assert ev.update.to_json() == {"set": {"id": 1}, "unset": []}


def test_sql_flat_with_connect_schema(decoder: Decoder) -> None:
    value = {
        "schema": {
            "type": "struct",
            "fields": [
                {"type": "int32", "field": "id"},
                {"type": "int64", "name": "io.debezium.time.MicroTimestamp", "field": "seen"},
                {"type": "string", "field": "__deleted"},
            ],
        },
        "payload": {"id": 1, "seen": 1529507596945104, "__deleted": "false"},
    }
    ev = decoder.decode_json(SQL_TOPIC, None, value)
    assert ev.after == {"id": 1, "seen": "2018-06-20T15:13:16.945104Z"}


def test_mongo_flat_position_and_namespace_from_source_fields(decoder: Decoder) -> None:
    row = {
        "_id": 5,
        "a": 1,
        "__op": "u",
        "__source_ts_ms": 1700000000000,
        "__source_ord": 4,
        "__db": "shop",
        "__collection": "carts",
    }
    ev = decoder.decode_json(MONGO_TOPIC, None, row)
    assert ev.format == "debezium-mongodb-flat"
    assert ev.op is Op.UPDATE and ev.after == {"_id": 5, "a": 1}
    assert ev.position == (1700000000000, 4)
    assert ev.namespace == "shop.carts"
    assert ev.key == {"_id": 5}


def test_mongo_flat_partial_update_with_op_marker(decoder: Decoder) -> None:
    ev = decoder.decode_json(MONGO_TOPIC, {"id": "5"}, {"a": 2, "b": None, "__op": "u"}, fmt="debezium-mongodb-flat")
    assert ev.op is Op.UPDATE and ev.after is None
    assert ev.key == {"_id": 5}
    assert ev.update.to_json() == {"set": {"a": 2}, "unset": ["b"]}


def test_flat_without_ordering_uses_offset(decoder: Decoder) -> None:
    ev = decoder.decode_json(MONGO_TOPIC, None, {"_id": 1, "x": 1}, fmt="debezium-mongodb-flat", offset=12)
    assert ev.position == (12,) and ev.ts_ms is None
