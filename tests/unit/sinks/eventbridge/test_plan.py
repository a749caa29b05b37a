"""Pure planning of EventBridge entries: ids, operations, changes, Detail, sizes, batches, oversize."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest
from pydantic import ValidationError

from streamproc.config.sink_eventbridge import EventBridgeSpec, PointerSpec
from streamproc.sinks.base import SinkRecord
from streamproc.sinks.eventbridge.plan import (
    MAX_ENTRY_BYTES,
    Entry,
    Rejected,
    actions,
    batches,
    changes,
    entry_size,
    event_id,
    plan_entry,
    resolve,
)

TS = 1_700_000_000_123
SPEC = EventBridgeSpec(entities=["users"], bus="cdc", source_prefix="coredb")


def rec(offset: int = 0, op: str = "insert", **kw: Any) -> SinkRecord:
    base: dict[str, Any] = {
        "topic": "p.events.users",
        "partition": 0,
        "offset": offset,
        "entity": "users",
        "op": op,
        "event_type": f"user.{op}",
        "namespace": "app.users",
        "key": {"_id": "u1"},
        "position": (TS, offset),
        "ts_ms": TS,
        "doc": {"_id": "u1", "name": "Ann", "tags": ["a"], "a": {"b": {"c": 1}}},
        "before": None,
        "complete": True,
    }
    base.update(kw)
    return SinkRecord(**base)


def test_event_id_is_deterministic_and_depends_on_entity_key_and_position() -> None:
    r = rec(3)
    assert re.fullmatch(rf"evt_{TS}_[0-9a-f]{{24}}", event_id(r))
    assert event_id(r) == event_id(dataclasses.replace(r, offset=99, doc=None, timestamp_ms=5))  # a redelivery
    assert event_id(r) != event_id(dataclasses.replace(r, position=(TS, 4)))
    assert event_id(r) != event_id(dataclasses.replace(r, key={"_id": "u2"}))
    assert event_id(r) != event_id(dataclasses.replace(r, entity="owners"))
    nopos = dataclasses.replace(r, position=(), ts_ms=None)
    assert event_id(nopos).startswith("evt_0_")
    assert event_id(nopos) != event_id(dataclasses.replace(nopos, offset=4))  # the offset tells them apart


def test_changes_are_leaf_paths_with_old_and_new() -> None:
    before = {"name": "Ann", "a": {"b": {"c": 1}, "d": 2}, "tags": ["a"], "gone": True, "n": 1}
    after = {"name": "Bob", "a": {"b": {"c": 1}}, "tags": ["a", "b"], "new": None, "n": 1.0}
    assert changes(before, after) == {
        "name": {"old": "Ann", "new": "Bob"},
        "a.d": {"old": 2, "new": None},
        "tags": {"old": ["a"], "new": ["a", "b"]},
        "gone": {"old": True, "new": None},
        "n": {"old": 1, "new": 1.0},
    }
    assert changes(None, {"x": {}}) == {"x": {"old": None, "new": {}}}
    assert changes({"x": 1}, {"x": 1}) == {}


@pytest.mark.parametrize(
    ("op", "before", "expected"),
    [
        ("insert", None, "INSERT"),
        ("snapshot", None, "INSERT"),
        ("update", {"_id": "u1"}, "UPDATE"),
        ("replace", None, "UPDATE"),
        ("upsert", None, "INSERT"),
        ("upsert", {"_id": "u1"}, "UPDATE"),
        ("delete", {"_id": "u1", "name": "Ann"}, "DELETE"),
    ],
)
def test_operations(op: str, before: Any, expected: str) -> None:
    entry = plan_entry(SPEC, rec(op=op, before=before, doc=None if op == "delete" else rec().doc))
    assert isinstance(entry, Entry)
    assert json.loads(entry.detail)["operation"] == expected


def test_a_delete_lists_the_removed_fields_and_a_truncate_sends_nothing() -> None:
    entry = plan_entry(SPEC, rec(op="delete", doc=None, before={"_id": "u1", "name": "Ann"}))
    assert isinstance(entry, Entry)
    assert json.loads(entry.detail)["changes"] == {
        "_id": {"old": "u1", "new": None},
        "name": {"old": "Ann", "new": None},
    }
    assert plan_entry(SPEC, rec(op="truncate")) is None


def test_detail_fields_and_entry() -> None:
    r = rec(2, timestamp_ms=TS + 1000)
    entry = plan_entry(SPEC, r)
    assert isinstance(entry, Entry)
    d = json.loads(entry.detail)
    assert d["eventId"] == entry.event_id == event_id(r)
    assert (d["eventType"], d["entityId"], d["entityType"]) == ("user.insert", "u1", "users")
    assert d["timestamp"] == "2023-11-14T22:13:20.123Z"
    assert d["metadata"] == {
        "sourceTable": "app.users",
        "sequenceNumber": [TS, 2],
        "processedAt": "2023-11-14T22:13:21.123Z",
        "version": "1.0",
    }
    req = entry.request()
    assert (req["Source"], req["DetailType"], req["EventBusName"]) == ("coredb.users", "user.insert", "cdc")
    assert req["Time"].timestamp() * 1000 == pytest.approx(TS)
    no_time = plan_entry(SPEC, rec(ts_ms=None))
    assert isinstance(no_time, Entry) and "Time" not in no_time.request()
    assert json.loads(no_time.detail)["metadata"]["processedAt"] is None  # no time known at all
    composite = plan_entry(SPEC, rec(key={"a": 1, "b": "x"}))
    assert isinstance(composite, Entry) and json.loads(composite.detail)["entityId"] == '{"a":1,"b":"x"}'


def test_incomplete_or_untyped_records_are_rejected_without_values() -> None:
    partial = plan_entry(SPEC, rec(op="update", doc=None, complete=False))
    untyped = plan_entry(SPEC, rec(event_type=""))
    assert isinstance(partial, Rejected) and partial.error_class == "invalid"
    assert isinstance(untyped, Rejected) and "DetailType" in untyped.reason


def test_entry_size_counts_as_aws_does() -> None:
    assert entry_size("a.b", "ü", '{"x":1}', True) == 14 + 3 + 2 + 7
    assert entry_size("a.b", "t", "{}", False) == 6
    entry = plan_entry(SPEC, rec())
    assert isinstance(entry, Entry)
    assert entry.size == 14 + len("coredb.users") + len("user.insert") + len(entry.detail.encode())


def test_batches_keep_order_and_both_limits() -> None:
    small = [plan_entry(SPEC, rec(i)) for i in range(23)]
    got = list(batches(e for e in small if isinstance(e, Entry)))
    assert [len(b) for b in got] == [10, 10, 3]
    assert [e.record.offset for b in got for e in b] == list(range(23))
    big = [plan_entry(SPEC, rec(i, doc={"_id": "u1", "x": "y" * 100_000})) for i in range(5)]
    got = list(batches(e for e in big if isinstance(e, Entry)))
    assert [len(b) for b in got] == [2, 2, 1]
    assert all(sum(e.size for e in b) <= MAX_ENTRY_BYTES for b in got)


def test_oversize_goes_to_the_dlq_or_becomes_a_pointer() -> None:
    r = rec(doc={"_id": "u1", "secret": "s" * MAX_ENTRY_BYTES})
    item, original = resolve(SPEC, r)
    assert isinstance(item, Rejected) and original is None
    assert "above the PutEvents limit" in item.reason and "s" * 10 not in item.reason
    spec = EventBridgeSpec(
        entities=["users"], oversize="s3-pointer", pointer=PointerSpec(bucket="lake", prefix="/ptr/")
    ).resolved()
    item, original = resolve(spec, r)
    assert isinstance(item, Entry) and isinstance(original, Entry)
    d = json.loads(item.detail)
    assert "changes" not in d and d["eventId"] == item.event_id == original.event_id
    assert d["detailPointer"] == {
        "bucket": "lake",
        "key": f"ptr/users/{item.event_id}.json",
        "bytes": len(original.detail.encode()),
    }
    lines = actions(spec, r)
    assert [line["kind"] for line in lines] == ["s3", "eventbridge"]
    assert lines[1]["source"] == "streamproc.users" and lines[1]["bus"] == "default"
    assert set(lines[1]) == {"kind", "bus", "source", "detail_type", "id", "detail"}


def test_spec_checks() -> None:
    with pytest.raises(ValidationError, match="pointer"):
        EventBridgeSpec(entities=["users"], oversize="s3-pointer")
    with pytest.raises(ValidationError, match="source_prefix"):
        EventBridgeSpec(entities=["users"], source_prefix="aws.events")
    with pytest.raises(ValidationError, match="bus"):
        EventBridgeSpec(entities=["users"], bus="no spaces")
    with pytest.raises(ValidationError):
        EventBridgeSpec(entities=[])
    s = EventBridgeSpec(entities=["users"], bus="file-bus", source_prefix="file")
    assert (s.resolved().bus, s.resolved().source_prefix) == ("file-bus", "file")
    assert (s.resolved("env-bus", "env").bus, s.resolved("env-bus", "env").source_prefix) == ("env-bus", "env")
