"""Pure planning of the OpenSearch sink: index names, ids, external versions, bulk lines and
chunks, bulk item outcomes, template and policy bodies."""

from __future__ import annotations

import json
import random

import pytest
from pydantic import ValidationError

from streamproc.sinks.base import SinkRecord
from streamproc.sinks.opensearch.bodies import (
    entity_indices,
    index_template_body,
    ism_policy_body,
    rollover_template_body,
)
from streamproc.sinks.opensearch.bulk import action_lines, item_outcome, safe_reason
from streamproc.sinks.opensearch.plan import (
    MAX_ID_BYTES,
    MAX_INDEX_BYTES,
    IndexNames,
    OpenSearchSpec,
    OsAction,
    document_id,
    index_name,
    plan_record,
)
from streamproc.sinks.opensearch.version import MAX_VERSION, Unplannable, version_of
from streamproc.sinks.runner import chunks

SPEC = OpenSearchSpec()


def rec(
    op: str = "insert", key=None, position=(5,), doc=None, entity="users", namespace="app.users", complete=True
) -> SinkRecord:
    if doc is None and op not in ("delete", "truncate") and complete:
        doc = {"_id": "a1", "name": "Ada"}
    return SinkRecord(
        "t",
        0,
        0,
        entity,
        op,
        f"{entity}.{op}",
        namespace,
        {"_id": "a1"} if key is None else key,
        tuple(position),
        None,
        doc,
        None,
        complete,
    )


# ------------------------------------------------------------------------- index names


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


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("logs/{entity}", "literal text"),
        ("{entity} index", "literal text"),
        ("{database}", "must contain {collection} or {entity}"),
        ("{db}_{collection}", "unknown field {db}"),
        ("{entity:>10}", "no format spec"),
        ("_{entity}", "must not start"),
        ("{entity", "not a valid format string"),
    ],
)
def test_bad_index_templates_are_rejected_at_config_time(template: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("}", r"\}")):
        OpenSearchSpec(index_template=template)


def test_entity_indices_follow_the_entities_setting() -> None:
    spec = OpenSearchSpec(entities=["users"])
    assert entity_indices(spec, {"users": "app.users", "orders": "public.orders"}) == {"users": "app_users"}
    assert entity_indices(SPEC, {"users": "app.users", "orders": "public.orders"}) == {
        "orders": "public_orders",
        "users": "app_users",
    }


# ------------------------------------------------------------------------- document ids


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


# ------------------------------------------------------------------------- versions


def _strictly_increasing(positions: list[tuple[int, ...]]) -> None:
    assert positions == sorted(positions), "test data must be in tuple order"
    versions = [version_of(p) for p in positions]
    for p, v in zip(positions, versions):
        assert 1 <= v <= MAX_VERSION, p
    for (p, a), (q, b) in zip(zip(positions, versions), zip(positions[1:], versions[1:])):
        assert a < b, (p, q)


def test_versions_of_single_positions_preserve_order() -> None:
    # PostgreSQL LSNs, DMS microseconds, Kafka offsets
    _strictly_increasing([(0,), (1,), (2,), (23_860_000,), (1_700_000_000_000_000,), (MAX_VERSION - 1,)])
    assert version_of((23_860_000,)) == 23_860_001


def test_versions_of_debezium_mongodb_positions_preserve_order() -> None:
    sec = 1_558_965_508
    positions = [
        (0, 0, 0),
        (sec * 1000, 0, 0),
        (sec * 1000, 0, 1),
        (sec * 1000, 0, 4095),
        (sec * 1000, 1, 0),
        (sec * 1000, 31, 0),
        (sec * 1000, 2**19 - 1, 4095),
        ((sec + 1) * 1000, 0, 0),
        ((sec + 1) * 1000, 1, 3),
        ((2**32 - 2) * 1000, 2**19 - 1, 4095),
    ]
    _strictly_increasing(positions)


def test_versions_of_pairs_preserve_order() -> None:
    positions = [
        (0, 0),  # mongo-kafka copy-existing
        (0, 1),
        (0, 1_700_000_000_000_000),  # DMS full-load row (0, µs)
        (0, 2**52 - 1),
        (1, 0),  # DMS (transaction id, record id)
        (1, 2**20 - 1),
        (2, 0),
        (1_700_000_000, 0),  # mongo-kafka (clusterTime seconds, increment)
        (1_700_000_000, 7),
        (1_700_000_001, 0),
        (1_558_965_508_000, 31),  # flattened Debezium MongoDB (ts_ms, ord)
        (1_558_965_509_000, 1),
        (2**42 - 1, 2**20 - 1),
    ]
    _strictly_increasing(positions)


def test_versions_preserve_random_orders_within_each_shape() -> None:
    rng = random.Random(7)
    shapes = [
        lambda: (rng.randrange(MAX_VERSION - 1),),
        lambda: (0, rng.randrange(2**52)),
        lambda: (rng.randrange(1, 2**42), rng.randrange(2**20)),
        lambda: (rng.randrange(2**32 - 1) * 1000, rng.randrange(2**19), rng.randrange(2**12)),
        lambda: (rng.randrange(1_700_000_000, 1_700_000_003) * 1000, rng.randrange(3), rng.randrange(3)),
    ]
    for make in shapes:
        sample = sorted({make() for _ in range(2000)})
        _strictly_increasing(sample)


def test_equal_positions_give_equal_versions() -> None:
    assert version_of((1_558_965_508_000, 31, 2)) == version_of([1_558_965_508_000, 31, 2])


@pytest.mark.parametrize(
    ("position", "reason"),
    [
        ((), "empty"),
        ((-1,), "negative"),
        ((MAX_VERSION,), "largest external version"),
        ((0, 2**52), "52 bits"),
        ((2**42, 0), "42 bits"),
        ((5, 2**20), "20 bits"),
        ((1_558_965_508_123, 1, 0), "not whole seconds"),
        ((1_558_965_508_000, 2**19, 0), "ord"),
        ((1_558_965_508_000, 1, 2**12), "transaction order"),
        ((2**32 * 1000, 0, 0), "seconds"),
        (((2**32 - 1) * 1000, 2**19 - 1, 4095), "largest external version"),
        ((1, 2, 3, 4), "4 parts"),
    ],
)
def test_unpackable_positions_name_the_reason(position: tuple[int, ...], reason: str) -> None:
    with pytest.raises(Unplannable, match=reason):
        version_of(position)


# ------------------------------------------------------------------------- actions


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


def test_action_lines() -> None:
    index = action_lines(SPEC, OsAction("index", "app_users", "a1", 6), {"_id": "a1", "name": "Ada", "n": 2**70})
    meta, doc = (json.loads(x) for x in index.decode().splitlines())
    assert meta == {"index": {"_index": "app_users", "_id": "a1", "version": 6, "version_type": "external"}}
    assert doc == {"src_id": "a1", "name": "Ada", "n": 2**70}  # _id is an OpenSearch metadata field
    assert index.endswith(b"\n") and index.count(b"\n") == 2
    delete = action_lines(SPEC, OsAction("delete", "app_users", "a1", 7), None)
    assert json.loads(delete) == {
        "delete": {"_index": "app_users", "_id": "a1", "version": 7, "version_type": "external"}
    }
    assert delete.count(b"\n") == 1
    with pytest.raises(ValueError):
        action_lines(SPEC, OsAction("skip", reason="truncate"), None)


def test_bulk_chunks_by_count_and_bytes() -> None:
    """The sink cuts bulk entries (item, lines) with the runner's ``chunks``, weighing the lines."""

    def lines(entry):
        return len(entry[1])

    entries = [(i, b"x" * 10) for i in range(7)]
    assert [[i for i, _ in c] for c in chunks(entries, 3, 10_000, size=lines)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [[i for i, _ in c] for c in chunks(entries, 100, 25, size=lines)] == [[0, 1], [2, 3], [4, 5], [6]]
    mixed = [(0, b"x" * 5), (1, b"x" * 50), (2, b"x" * 5), (3, b"x" * 5)]
    assert [[i for i, _ in c] for c in chunks(mixed, 100, 20, size=lines)] == [[0], [1], [2, 3]]  # oversize alone
    assert list(chunks([], 3, 10, size=lines)) == []
    for chunk in chunks(entries, 4, 35, size=lines):
        assert len(chunk) <= 4 and sum(len(b) for _, b in chunk) <= 35


# ------------------------------------------------------------------------- bulk item outcomes


def test_item_outcomes() -> None:
    assert item_outcome("index", {"status": 201, "result": "created"}).kind == "done"
    assert item_outcome("index", {"status": 200, "result": "updated"}).kind == "done"
    conflict = {"status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "…"}}
    assert item_outcome("index", conflict).kind == "stale"
    assert item_outcome("delete", conflict).kind == "stale"
    assert item_outcome("delete", {"status": 404, "result": "not_found"}).kind == "done"
    assert (
        item_outcome("index", {"status": 429, "error": {"type": "es_rejected_execution_exception"}}).kind == "throttled"
    )
    assert item_outcome("index", {"status": 503, "error": {"type": "unavailable_shards_exception"}}).kind == "retry"
    blocked = {"status": 403, "error": {"type": "cluster_block_exception", "reason": "index [x] blocked"}}
    assert item_outcome("index", blocked).kind == "retry"
    denied = {"status": 403, "error": {"type": "security_exception", "reason": "no permissions"}}
    assert item_outcome("index", denied).kind == "fatal"
    missing = {"status": 404, "error": {"type": "index_not_found_exception", "reason": "no such index [x]"}}
    assert item_outcome("index", missing).kind == "fatal"
    no_writer = {
        "status": 400,
        "error": {"type": "illegal_argument_exception", "reason": "no write index is defined for alias [app_events]"},
    }
    assert item_outcome("index", no_writer).kind == "fatal"


def test_mapping_errors_fail_the_record_naming_type_and_field_never_the_value() -> None:
    error = {
        "type": "mapper_parsing_exception",
        "reason": "failed to parse field [age] of type [long] in document with id 'a1'. "
        "Preview of field's value: 'ada@example.com'",
        "caused_by": {"type": "number_format_exception", "reason": 'For input string: "ada@example.com"'},
    }
    outcome = item_outcome("index", {"status": 400, "error": error})
    assert outcome.kind == "fail"
    assert "mapper_parsing_exception" in outcome.reason and "field age" in outcome.reason
    assert "mapped as long" in outcome.reason and "number_format_exception" in outcome.reason
    assert "ada@example.com" not in outcome.reason and "a1" not in outcome.reason
    for etype, reason, field in [
        (
            "strict_dynamic_mapping_exception",
            "mapping set to strict, dynamic introduction of [nick] within [_doc] is not allowed",
            "nick",
        ),
        (
            "mapper_parsing_exception",
            "object mapping for [o] tried to parse field [o] as object, but found a concrete value",
            "o",
        ),
        ("illegal_argument_exception", "Limit of total fields [1000] has been exceeded", None),
        ("document_parsing_exception", "[1:9] failed to parse field [when_at] of type [date]", "when_at"),
    ]:
        out = item_outcome("index", {"status": 400, "error": {"type": etype, "reason": reason}})
        assert out.kind == "fail" and etype in out.reason
        if field:
            assert f"field {field}" in out.reason
    assert safe_reason(None) == "unknown error"


# ------------------------------------------------------------------------- template, policy, spec


def test_index_template_maps_strings_as_keyword_with_text_and_at_fields_as_dates() -> None:
    body = index_template_body(SPEC, ["app_users", "public_orders"])
    assert body["index_patterns"] == ["app_users", "public_orders"]
    mappings = body["template"]["mappings"]
    templates = [next(iter(t.values())) for t in mappings["dynamic_templates"]]
    strings = templates[-1]
    assert strings["match_mapping_type"] == "string"
    assert strings["mapping"]["type"] == "keyword"
    assert strings["mapping"]["fields"] == {"text": {"type": "text"}}
    dates = [t for t in templates if t["mapping"]["type"] == "date"]
    assert {t["match"] for t in dates} == {"*_at", "*At"}
    assert {t["match_mapping_type"] for t in dates} == {"string", "long"}
    assert mappings["date_detection"] is False
    rolled = rollover_template_body(SPEC, "app_events")
    assert rolled["index_patterns"] == ["app_events-*"]
    assert rolled["template"]["settings"]["plugins.index_state_management.rollover_alias"] == "app_events"
    assert rolled["priority"] > body["priority"]


def test_ism_policy_rolls_over_and_deletes_after_n_days() -> None:
    spec = OpenSearchSpec(ism={"delete_after_days": 7, "rollover_min_size": "5gb", "rollover_min_age": "12h"})
    policy = ism_policy_body(spec, ["app_events"])["policy"]
    hot, delete = policy["states"]
    assert policy["default_state"] == "hot"
    assert hot["actions"] == [{"rollover": {"min_index_age": "12h", "min_size": "5gb"}}]
    assert hot["transitions"] == [{"state_name": "delete", "conditions": {"min_index_age": "7d"}}]
    assert delete["actions"] == [{"delete": {}}]
    assert policy["ism_template"] == [{"index_patterns": ["app_events-*"], "priority": 100}]
    assert "ism_template" not in ism_policy_body(spec, [])["policy"]  # attached to nothing by default


@pytest.mark.parametrize(
    ("ism", "message"),
    [
        ({"rollover_min_age": "one day"}, "rollover_min_age"),
        ({"rollover_min_size": "big"}, "rollover_min_size"),
        ({"rollover_min_age": None, "rollover_min_size": None}, "at least one"),
        ({"delete_after_days": 0}, "delete_after_days"),
    ],
)
def test_bad_ism_settings_are_rejected(ism: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OpenSearchSpec(ism=ism)


def test_ism_entities_must_be_written_by_the_sink() -> None:
    with pytest.raises(ValidationError, match="ism.entities lists events"):
        OpenSearchSpec(entities=["users"], ism={"entities": ["events"]})


def test_shipped_pipelines_config_section_parses(repo_root) -> None:
    import yaml

    raw = yaml.safe_load((repo_root / "config" / "pipelines.yaml").read_text())
    spec = OpenSearchSpec.model_validate(raw["sinks"]["opensearch"])
    assert spec.index_template == "{database}_{collection}"
