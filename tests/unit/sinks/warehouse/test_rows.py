"""Rows of the warehouse sink (``streamproc.sinks.warehouse.rows``): document lookup, upsert and
delete rows, rejected records naming no value."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from streamproc.sinks.warehouse.rows import RecordRejected, build_row, lookup
from streamproc.sinks.warehouse.types import POSTGRES
from tests.unit.sinks.warehouse.records import orders_table, rec


def test_lookup_follows_dotted_paths_and_list_indexes() -> None:
    doc = {"a": {"b": [{"c": 1}, {"c": 2}]}, "x": None}
    assert lookup(doc, ("a", "b", "1", "c")) == 2
    assert lookup(doc, ("a", "missing")) is None
    assert lookup(doc, ("x", "y")) is None
    assert lookup(None, ("a",)) is None


def test_upsert_row_takes_key_from_record_key_and_columns_from_the_document() -> None:
    t = orders_table()
    doc = {
        "id": 99,
        "total": "12.50",
        "customer": {"name": "Ann"},
        "paid": True,
        "meta": {"k": 1},
        "created_at": "2024-01-02T03:04:05Z",
        "day": "2024-01-02",
    }
    row = build_row(t, rec(key={"id": "5"}, position=(10, 2), doc=doc), POSTGRES)
    assert row.op == "upsert"
    values = dict(zip(t.load_columns, row.values, strict=True))
    assert values["id"] == 5  # the key comes from record.key, converted to the key column's type
    assert values["total"] == Decimal("12.50") and values["customer_name"] == "Ann"
    assert values["order_day"] == date(2024, 1, 2)
    assert values["meta"] == '{"k":1}'
    assert values["_src_position"] == [10, 2] and values["_deleted"] is False
    assert values["_src_ts"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert '"customer":{"name":"Ann"}' in values["_doc"]


def test_delete_row_keeps_key_and_position_and_nulls_the_document() -> None:
    t = orders_table()
    row = build_row(t, rec(op="delete", key={"id": 5}, position=(11,), doc=None), POSTGRES)
    values = dict(zip(t.load_columns, row.values, strict=True))
    assert row.op == "delete" and values["_deleted"] is True and values["id"] == 5
    assert values["_doc"] is None and values["total"] is None and values["_src_position"] == [11]


@pytest.mark.parametrize(
    "record, match, error_class",
    [
        (rec(doc={"total": "abc-secret"}), "column 'total' \\(numeric\\)", "invalid"),
        (rec(doc=None, op="update", complete=False), "partial update", "invalid"),
        (rec(doc={"id": 1}, op="truncate"), "truncate", "permanent"),
        (rec(key={"id": None}, doc={}), "key field 'id'", "invalid"),
        (rec(position=(), doc={}), "no source position", "invalid"),
        (rec(doc={"note": "nul\x00secret"}), "NUL", "invalid"),
    ],
)
def test_rejected_records_name_column_and_type_never_the_value(record, match, error_class) -> None:
    with pytest.raises(RecordRejected, match=match) as info:
        build_row(orders_table(), record, POSTGRES)
    assert info.value.error_class == error_class
    assert "secret" not in info.value.reason
