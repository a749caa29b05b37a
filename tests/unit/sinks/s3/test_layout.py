"""Pure layout of the trigger-compatible sink (``streamproc.sinks.s3.layout``): keys, parts, planned
objects and messages, SQS ids and bodies. No network."""

from __future__ import annotations

import json

import pytest

from streamproc.sinks.s3.js_json import js_json
from streamproc.sinks.s3.layout import (
    MAX_PART_BYTES,
    Rejected,
    Skipped,
    TriggerObject,
    base_key,
    document_id,
    is_fifo,
    part_keys,
    plan_trigger,
    split_utf8,
    sqs_body,
    sqs_id,
)
from tests.unit.sinks.s3.records import TS, rec, trigger_spec


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ({"_id": "65a1b2c3d4e5f60718293a4b"}, "65a1b2c3d4e5f60718293a4b"),
        ({"_id": 42}, "42"),
        ({"_id": {"tenant": "t1", "n": 7}}, '{"tenant":"t1","n":7}'),
        ({"tenant": "t1", "id": 7}, "t1_7"),
        ({"id": 7}, "7"),
    ],
)
def test_document_id(key: dict, expected: str) -> None:
    assert document_id(key) == expected


@pytest.mark.parametrize("env", ["prod/", "prod", "/prod//", "//prod"])
def test_base_key_joins_without_double_slashes(env: str) -> None:
    assert base_key(env, "reservations", "abc", TS) == f"prod/reservations/abc-{TS}"
    assert base_key(env, "/reservations/", "abc", TS) == f"prod/reservations/abc-{TS}"


def test_base_key_without_env() -> None:
    assert base_key("", "users", "u1", 5) == "users/u1-5"


def test_split_never_cuts_a_utf8_character() -> None:
    data = ("a" * 15 + "€" + "b").encode()  # € is 3 bytes at offsets 15..17
    parts = split_utf8(data, 16)
    assert parts[0] == b"a" * 15
    assert b"".join(parts) == data
    for p in parts:
        p.decode("utf-8")
        assert len(p) <= 16


def test_split_multibyte_text_everywhere() -> None:
    data = ("é€😀" * 1000).encode()
    for limit in (16, 17, 18, 19, 20, 31):
        parts = split_utf8(data, limit)
        assert b"".join(parts) == data
        assert all(len(p) <= limit and p.decode() for p in parts)


def test_exactly_max_bytes_is_one_object_without_suffix() -> None:
    doc = {"_id": "x", "pad": ""}
    doc["pad"] = "a" * (MAX_PART_BYTES - len(js_json(doc)))
    item = plan_trigger(trigger_spec(), rec(doc=doc, key={"_id": "x"}))
    assert isinstance(item, TriggerObject)
    assert [k for k, _ in item.parts] == [f"prod/reservations/x-{TS}"]
    assert len(item.parts[0][1]) == MAX_PART_BYTES

    doc["pad"] += "a"
    item = plan_trigger(trigger_spec(), rec(doc=doc, key={"_id": "x"}))
    assert [k for k, _ in item.parts] == [f"prod/reservations/x-{TS}-0", f"prod/reservations/x-{TS}-1"]
    assert [len(b) for _, b in item.parts] == [MAX_PART_BYTES, 1]


def test_ten_megabyte_document_splits_into_ordered_parts() -> None:
    doc = {"_id": "big", "text": "Zoë😀" * (10 * 1024 * 1024 // 7)}
    item = plan_trigger(trigger_spec(), rec(doc=doc, key={"_id": "big"}))
    assert isinstance(item, TriggerObject)
    keys = [k for k, _ in item.parts]
    assert keys == [f"prod/reservations/big-{TS}-{i}" for i in range(3)]
    assert all(len(b) <= MAX_PART_BYTES for _, b in item.parts)
    for _, b in item.parts:
        b.decode("utf-8")  # no character cut
    assert json.loads(b"".join(b for _, b in item.parts)) == doc
    assert json.loads(item.message.body)["S3FilePartsOfJSONDocument"] == [{"Bucket": "changes", "Key": k} for k in keys]


def test_part_keys() -> None:
    assert part_keys("p/x-1", 1) == ["p/x-1"]
    assert part_keys("p/x-1", 3) == ["p/x-1-0", "p/x-1-1", "p/x-1-2"]


def test_insert_plan_and_fifo_message() -> None:
    r = rec(doc={"_id": "65a1b2c3d4e5f60718293a4b", "name": "Zoë", "price": 10.0})
    item = plan_trigger(trigger_spec(), r)
    assert isinstance(item, TriggerObject)
    key = f"prod/reservations/65a1b2c3d4e5f60718293a4b-{TS}"
    assert item.parts == ((key, '{"_id":"65a1b2c3d4e5f60718293a4b","name":"Zoë","price":10}'.encode()),)
    m = item.message
    assert m.body == '{"operation":"insert","S3FilePartsOfJSONDocument":[{"Bucket":"changes","Key":"' + key + '"}]}'
    assert (m.group_id, m.dedup_id, m.queue) == ("reservations", key, "streamproc-reservations.fifo")


def test_standard_queue_has_no_group_or_dedup_id() -> None:
    item = plan_trigger(trigger_spec(queue="streamproc-reservations"), rec())
    assert item.message.group_id is None and item.message.dedup_id is None


def test_no_queue_means_s3_only() -> None:
    item = plan_trigger(trigger_spec(queue=None), rec())
    assert isinstance(item, TriggerObject) and item.message is None


def test_delete_body_is_the_document_key() -> None:
    item = plan_trigger(trigger_spec(), rec(op="delete", doc=None))
    assert item.parts[0][1] == b'{"_id":"65a1b2c3d4e5f60718293a4b"}'
    assert json.loads(item.message.body)["operation"] == "delete"


@pytest.mark.parametrize(
    ("op", "operation"),
    [("insert", "insert"), ("update", "update"), ("replace", "replace"), ("snapshot", "insert"), ("upsert", "replace")],
)
def test_operation_mapping(op: str, operation: str) -> None:
    item = plan_trigger(trigger_spec(), rec(op=op))
    assert json.loads(item.message.body)["operation"] == operation


def test_partial_update_without_document_is_rejected_naming_no_value() -> None:
    item = plan_trigger(trigger_spec(), rec(op="update", doc=None, complete=False))
    assert isinstance(item, Rejected) and item.error_class == "invalid"
    assert "complete=false" in item.reason and "65a1" not in item.reason


def test_missing_source_time_is_rejected() -> None:
    item = plan_trigger(trigger_spec(), rec(ts_ms=None))
    assert isinstance(item, Rejected) and "ts_ms" in item.reason


def test_truncate_is_skipped() -> None:
    item = plan_trigger(trigger_spec(), rec(op="truncate", key={}, doc=None))
    assert isinstance(item, Skipped)


def test_overlong_key_is_rejected() -> None:
    item = plan_trigger(trigger_spec(), rec(key={"_id": "k" * 1100}))
    assert isinstance(item, Rejected) and "1024" in item.reason


def test_sqs_id_keeps_valid_ids_and_sanitises_others_deterministically() -> None:
    assert sqs_id(f"prod/reservations/abc-{TS}") == f"prod/reservations/abc-{TS}"
    weird = "prod/reservations/Zoë space-1"
    a, b = sqs_id(weird), sqs_id(weird)
    assert a == b and len(a) <= 128 and a.isascii() and " " not in a
    assert sqs_id("prod/x/" + "a" * 300) != sqs_id("prod/x/" + "a" * 299 + "b")
    assert len(sqs_id("prod/x/" + "a" * 300)) == 128
    assert sqs_id("Zoë") != sqs_id("Zoé")  # both sanitise to "Zo_", the hash keeps them apart


def test_fifo_detection_by_name_or_url() -> None:
    assert is_fifo("q.fifo") and is_fifo("https://sqs.eu-west-1.amazonaws.com/1/q.fifo")
    assert not is_fifo("q") and not is_fifo("https://sqs.eu-west-1.amazonaws.com/1/q")


def test_sqs_body_lists_parts_in_order() -> None:
    body = sqs_body("update", "b", ["k-0", "k-1"])
    assert (
        body
        == '{"operation":"update","S3FilePartsOfJSONDocument":[{"Bucket":"b","Key":"k-0"},{"Bucket":"b","Key":"k-1"}]}'
    )


def test_layout_imports_no_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, streamproc.config.sinks, streamproc.sinks.s3.layout, streamproc.sinks.s3.markers\n"
        "import streamproc.sinks.s3.js_json\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'fastavro')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
