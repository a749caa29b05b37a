"""The planner of the warehouse sink (``streamproc.sinks.warehouse.plan``): table keys per entity,
tables created up front, key clashes."""

from __future__ import annotations

import pytest

from streamproc.config.sink_warehouse import WarehouseSpec
from streamproc.sinks.warehouse.plan import WarehousePlanner, table_plan
from streamproc.sinks.warehouse.rows import RecordRejected
from streamproc.sinks.warehouse.types import POSTGRES
from tests.unit.sinks.warehouse.records import ORDERS, rec, spec


def test_key_fields_clashing_with_system_columns_are_rejected() -> None:
    s = WarehouseSpec.model_validate({"entities": "all"})
    with pytest.raises(RecordRejected, match="clash"):
        table_plan(s, "x", s.table_config("x"), ("_doc",))


def test_planner_fixes_key_fields_per_entity() -> None:
    planner = WarehousePlanner(WarehouseSpec.model_validate({"entities": "all"}), POSTGRES)
    first = planner.row(rec(key={"_id": "65a"}, doc={"_id": "65a"}))
    assert first.table.key_fields == ("_id",)
    with pytest.raises(RecordRejected, match="differ from the table key"):
        planner.row(rec(key={"id": 1}, doc={}))


def test_configured_key_creates_tables_up_front() -> None:
    s = spec({"orders": {**ORDERS, "key": ["id"]}, "users": {}})
    tables = WarehousePlanner(s, POSTGRES).configured_tables()
    assert [t.name for t in tables] == ["orders"]
    assert tables[0].key[0].type == "bigint"
