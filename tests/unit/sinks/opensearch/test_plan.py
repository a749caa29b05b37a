"""Pure planning of the OpenSearch sink (``streamproc.sinks.opensearch.plan``): index names,
document ids, the action of each record."""

from __future__ import annotations

import pytest

from streamproc.config.sink_opensearch import OpenSearchSpec
from streamproc.sinks.opensearch.plan import (
    MAX_ID_BYTES,
    MAX_INDEX_BYTES,
    IndexNames,
    OsAction,
    document_id,
    index_name,
    plan_record,
)
from streamproc.sinks.opensearch.version import Unplannable
from tests.unit.sinks.opensearch.records import SPEC, rec


@pytest.mark.parametrize(
    ("template", "entity", "namespace", "expected"),
    [
        ("{database}_{collection}", "users", "app.users", "app_users"),
        ("{database}_{collection}", "orders", "public.orders", "public_orders"),
        ("{database}_{collection}", "users", None, "users"),  # no namespace: collection = entity
        ("{database}_{collection}", "profile", "app.system.profile", "app_system.profile"),
        ("{database}_{collection}", "x", "Sales DB.Order:Lines", "sales_db_order_lines"),
        ("{database}_{collection}", "x", "_internal.Café", "internal_caf_"),
        ("cdc-{entity}", "Users", "app.users", "cdc-users"),
        ("CDC.{entity}.v1", "users", None, "cdc.users.v1"),
    ],
)
def test_index_name(template: str, entity: str, namespace: str | None, expected: str) -> None:
    assert index_name(OpenSearchSpec(index_template=template), entity, namespace) == expected


def test_long_index_names_are_shortened_deterministically() -> None:
    long_ns = "db." + "c" * 400
    a = index_name(SPEC, "e", long_ns)
    assert len(a.encode()) <= MAX_INDEX_BYTES
    assert a == index_name(SPEC, "e", long_ns)
    assert a != index_name(SPEC, "e", long_ns + "x")


def test_index_names_are_computed_once_per_entity_and_namespace(monkeypatch) -> None:
    import streamproc.sinks.opensearch.plan as plan

    calls = []

    def counting(spec, entity, namespace):
        calls.append((entity, namespace))
        return index_name(spec, entity, namespace)

    monkeypatch.setattr(plan, "index_name", counting)
    names = IndexNames(SPEC)
    records = [rec(), rec(op="delete"), rec(entity="orders", namespace="app.orders"), rec()]
    assert [plan_record(SPEC, r, names) for r in records] == [plan_record(SPEC, r) for r in records]
    calls.clear()
    assert [plan_record(SPEC, r, names).index for r in records] == ["app_users", "app_users", "app_orders", "app_users"]
    assert calls == []  # all cached
    by_entity = OpenSearchSpec(index_template="{entity}")
    unnamed = IndexNames(by_entity)
    for _ in range(2):  # an entity without a usable index name goes to the DLQ, and is not remembered
        assert plan_record(by_entity, rec(entity="_"), unnamed).action == "dlq"
    assert calls == [("_", "app.users"), ("_", "app.users")]


def test_single_field_ids() -> None:
    assert document_id({"_id": "65a1f0c2e4b0a1b2c3d4e5f6"}) == "65a1f0c2e4b0a1b2c3d4e5f6"
    assert document_id({"id": 1004}) == "1004"
    assert document_id({"id": 12345678901234567890123}) == "12345678901234567890123"
    assert document_id({"id": True}) == "true"
    assert document_id({"id": 1.5}) == "1.5"
    assert document_id({"_id": {"b": 2, "a": 1}}) == '{"a":1,"b":2}'


def test_composite_ids_are_stable_and_unambiguous() -> None:
    a = document_id({"tenant": "t1", "id": 7})
    assert a == document_id({"id": 7, "tenant": "t1"})  # field order does not matter
    assert a == '[7,"t1"]'  # values ordered by field name, as canonical JSON
    assert document_id({"a": "x,y", "b": "z"}) != document_id({"a": "x", "b": "y,z"})
    assert document_id({"a": "x|y", "b": "z"}) != document_id({"a": "x", "b": "y|z"})


def test_long_ids_are_hashed_within_the_limit() -> None:
    short = "é" * 256  # 512 bytes: kept
    assert document_id({"id": short}) == short
    long = "é" * 257  # 514 bytes: hashed
    hashed = document_id({"id": long})
    assert hashed.startswith("sha256-") and len(hashed.encode()) <= MAX_ID_BYTES
    assert hashed == document_id({"id": long})
    assert hashed != document_id({"id": long + "x"})


@pytest.mark.parametrize(
    ("key", "reason"), [({}, "no key fields"), ({"id": None}, "key field id is null"), ({"id": ""}, "empty string")]
)
def test_missing_ids(key: dict, reason: str) -> None:
    with pytest.raises(Unplannable, match=reason):
        document_id(key)


def test_plan_of_each_op() -> None:
    for op in ("insert", "update", "replace", "upsert", "snapshot"):
        assert plan_record(SPEC, rec(op)) == OsAction("index", "app_users", "a1", 6)
    assert plan_record(SPEC, rec("delete")) == OsAction("delete", "app_users", "a1", 6)
    assert plan_record(SPEC, rec("truncate", key={})).action == "skip"
    assert plan_record(SPEC, rec("insert")).as_plan() == {
        "kind": "opensearch",
        "action": "index",
        "index": "app_users",
        "id": "a1",
        "version": 6,
    }


def test_records_that_cannot_be_planned_go_to_the_dlq_with_a_reason() -> None:
    partial = plan_record(SPEC, rec("update", complete=False))
    assert partial.action == "dlq" and "partial update" in (partial.reason or "")
    bad = plan_record(SPEC, rec("insert", position=(1_558_965_508_123, 1, 0)))
    assert bad.as_plan() == {"kind": "opensearch", "action": "dlq", "reason": bad.reason}
    secret = plan_record(SPEC, rec("insert", key={"email": None}))
    assert secret.action == "dlq" and secret.reason == "key field email is null"
