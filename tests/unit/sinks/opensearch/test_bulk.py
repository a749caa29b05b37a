"""Bulk requests of the OpenSearch sink (``streamproc.sinks.opensearch.bulk``): action lines, chunks
by count and bytes, the outcome of each answered item."""

from __future__ import annotations

import json

import pytest

from streamproc.sinks.opensearch.bulk import action_lines, item_outcome, safe_reason
from streamproc.sinks.opensearch.plan import OsAction
from streamproc.sinks.runner import chunks
from tests.unit.sinks.opensearch.records import SPEC


def test_action_lines() -> None:
    index = action_lines(SPEC, OsAction("index", "app_users", "a1", 6), {"_id": "a1", "name": "Ada", "n": 2**70})
    meta, doc = (json.loads(x) for x in index.decode().splitlines())
    assert meta == {"index": {"_index": "app_users", "_id": "a1", "version": 6, "version_type": "external_gte"}}
    assert doc == {"src_id": "a1", "name": "Ada", "n": 2**70}  # _id is an OpenSearch metadata field
    assert index.endswith(b"\n") and index.count(b"\n") == 2
    delete = action_lines(SPEC, OsAction("delete", "app_users", "a1", 7), None)
    assert json.loads(delete) == {
        "delete": {"_index": "app_users", "_id": "a1", "version": 7, "version_type": "external_gte"}
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
