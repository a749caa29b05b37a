"""The ``sinks.warehouse`` section (``streamproc.config.sink_warehouse``): the schema alias, and
the columns and keys it rejects when the configuration is loaded."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from streamproc.config.sink_warehouse import WarehouseSpec
from streamproc.sinks.warehouse.plan import WarehousePlanner
from streamproc.sinks.warehouse.types import POSTGRES
from tests.unit.sinks.warehouse.records import spec


def test_spec_reads_the_schema_alias_and_defaults_to_all_entities() -> None:
    s = WarehouseSpec.model_validate({"schema": "bi"})
    assert s.db_schema == "bi" and s.entities == "all"
    assert s.table_config("anything") is not None
    assert spec().table_config("users") is None


@pytest.mark.parametrize(
    "columns, problem",
    [
        ({"_doc": "text"}, "reserved"),
        ({"a.b": "text", "a_b": "bigint"}, "both map"),
        ({"tags[].name": "text"}, "dotted segments"),
        ({"a": {"type": "text", "name": "x" * 64}}, "bytes"),
        ({"a": "varchar"}, "Input should be"),
    ],
)
def test_spec_rejects_bad_columns(columns, problem) -> None:
    with pytest.raises(ValidationError, match=problem):
        spec({"orders": {"columns": columns}})


@pytest.mark.parametrize(
    "table, clash",
    [
        ({"key": ["_doc"]}, "['_doc']"),
        ({"key": ["id", "_src_position"]}, "['_src_position']"),
        ({"key": ["a_b"], "columns": {"a.b": "text"}}, "['a_b']"),
        ({"key": ["id"], "columns": {"ident": {"type": "text", "name": "id"}}}, "['id']"),
        ({"key": ["id", "id"]}, "['id']"),
    ],
)
def test_spec_rejects_a_key_that_clashes_with_system_or_configured_columns(table, clash) -> None:
    """Caught when the configuration loads (naming the entity), not as a RecordRejected at start."""
    with pytest.raises(ValidationError) as info:
        spec({"orders": table})
    (err,) = [e for e in info.value.errors() if "clash" in e["msg"]]
    assert err["loc"][0] == "entities" and err["loc"][-1] == "orders"
    assert f"key field(s) {clash} clash with system or configured columns" in err["msg"]


def test_a_configured_key_column_may_carry_a_type_and_a_name() -> None:
    s = spec({"orders": {"key": ["id"], "columns": {"id": {"type": "bigint", "name": "order_id"}, "a.b": "text"}}})
    (table,) = WarehousePlanner(s, POSTGRES).configured_tables()
    assert [(c.name, c.type) for c in table.key] == [("order_id", "bigint")]
    assert [c.name for c in table.columns] == ["a_b"]
