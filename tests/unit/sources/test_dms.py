"""AWS DMS records."""

from __future__ import annotations

from typing import Any

from streamproc.model import Op, Skip
from streamproc.sources import Decoder

from ._support import dumps

TOPIC = "dms-blog"


def record(operation: str, data: Any, **metadata: Any) -> dict[str, Any]:
    md = {
        "timestamp": "2020-05-30T10:34:47.209089Z",
        "record-type": "data",
        "operation": operation,
        "partition-key-type": "schema-table",
        "schema-name": "testdb",
        "table-name": "orders",
    }
    md.update(metadata)
    return {"data": data, "metadata": md}


def test_full_load_is_a_snapshot_ordered_before_changes(decoder: Decoder) -> None:
    load = decoder.decode_json(TOPIC, None, record("load", {"ID": 1, "amount": "20"}))
    assert load.op is Op.SNAPSHOT
    assert load.key == {"ID": 1}
    assert load.position == (0,)
    assert load.ts_ms == 1590834887209
    change = decoder.decode_json(TOPIC, None, record("update", {"ID": 1, "amount": "21"}, **{"transaction-id": 5}))
    assert load.position < change.position


def test_transaction_ids_do_not_order_commits(decoder: Decoder) -> None:
    """A transaction with a smaller id (an earlier first write) can commit later: the commit
    timestamp orders, and the ids (even beyond 2**53) do not enter the position."""
    details = {
        "transaction-id": 2**62 + 9,
        "transaction-record-id": 3,
        "commit-timestamp": "2020-05-30T10:34:40.000001Z",
    }
    first = decoder.decode(TOPIC, None, dumps(record("update", {"id": 1}, **details)))
    details = {"transaction-id": 2**62 + 7, "transaction-record-id": 1, "commit-timestamp": "2020-05-30T10:34:41Z"}
    later = decoder.decode(TOPIC, None, dumps(record("update", {"id": 1}, **details)))
    assert first.position == (1590834880000001,)
    assert first.position < later.position


def test_without_transaction_details_commit_timestamp_orders(decoder: Decoder) -> None:
    ev = decoder.decode_json(
        TOPIC, None, record("insert", {"id": 1}, **{"commit-timestamp": "2020-05-30T10:34:43.000001Z"})
    )
    assert ev.position == (1590834883000001,)
    assert ev.ts_ms == 1590834883000


def test_before_images(decoder: Decoder) -> None:
    attr = decoder.decode_json(
        TOPIC, None, dict(record("update", {"id": 1, "amount": "21"}), **{"before-image": {"id": 1, "amount": "20"}})
    )
    assert attr.before == {"id": 1, "amount": "20"} and attr.after == {"id": 1, "amount": "21"}
    columns = decoder.decode_json(
        TOPIC, None, record("update", {"id": 1, "amount": "21", "BI_id": 1, "BI_amount": "20"})
    )
    assert columns.before == {"id": 1, "amount": "20"} and columns.after == {"id": 1, "amount": "21"}


def test_absent_columns_stay_absent(decoder: Decoder) -> None:
    ev = decoder.decode_json(TOPIC, None, record("insert", {"id": 1}))
    assert ev.after == {"id": 1}
    assert "amount" not in ev.after


def test_kafka_key_object_is_used_when_no_key_fields(decoder: Decoder) -> None:
    ev = decoder.decode_json(TOPIC, {"orderId": 9}, record("insert", {"orderId": 9, "id": 1}))
    assert ev.key == {"orderId": 9}
    string_key = decoder.decode(TOPIC, b"testdb.orders.9", dumps(record("insert", {"orderId": 9, "Id": 1})))
    assert string_key.key == {"Id": 1}


def test_control_records(decoder: Decoder) -> None:
    ctl = {
        "metadata": {
            "timestamp": "2020-05-30T10:29:55.926438Z",
            "record-type": "control",
            "operation": "rename-table",
            "schema-name": "",
            "table-name": "",
        }
    }
    assert decoder.decode_json(TOPIC, None, ctl) == Skip("dms", "control")
    assert decoder.decode_json(TOPIC, None, {"control": {"table-def": {}}}) == Skip("dms", "control")
