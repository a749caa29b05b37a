"""The configuration and records shared by the warehouse sink tests."""

from __future__ import annotations

from streamproc.config.sink_warehouse import WarehouseSpec
from streamproc.sinks.base import SinkRecord
from streamproc.sinks.warehouse.plan import table_plan
from streamproc.sinks.warehouse.types import POSTGRES


def rec(op="insert", key=None, position=(1,), doc=None, entity="orders", complete=True, ts_ms=1_700_000_000_000):
    return SinkRecord(
        topic="streamproc.events.orders",
        partition=0,
        offset=7,
        entity=entity,
        op=op,
        event_type="x",
        namespace="shop.orders",
        key=key if key is not None else {"id": 1},
        position=position,
        ts_ms=ts_ms,
        doc=doc,
        before=None,
        complete=complete,
    )


ORDERS = {
    "columns": {
        "id": "bigint",
        "total": "numeric",
        "customer.name": "text",
        "paid": "boolean",
        "created_at": "timestamptz",
        "meta": "jsonb",
        "day": {"type": "date", "name": "order_day"},
    }
}


def spec(entities=None, schema="bi"):
    return WarehouseSpec.model_validate(
        {"schema": schema, "entities": entities if entities is not None else {"orders": ORDERS}}
    )


def orders_table(dialect=POSTGRES, key=("id",), entities=None):
    s = spec(entities)
    return table_plan(s, "orders", s.table_config("orders"), key)
