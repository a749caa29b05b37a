"""Pure layout of the S3 sinks: keys, parts, JSON as JSON.stringify wrote it, SQS bodies and ids,
archive grouping, naming and deterministic encoding. No network."""

from __future__ import annotations

import gzip
import io
import json
import math

import fastavro
import pytest

from streamproc.config.settings import AwsSettings
from streamproc.sinks.base import SinkBatch, SinkRecord
from streamproc.sinks.s3.archive import S3ArchiveSink
from streamproc.sinks.s3.archive_format import (
    ENVELOPE_SCHEMA,
    hour_partition,
    object_key,
    plan_archive,
    sync_marker,
)
from streamproc.sinks.s3.js_json import js_json, js_number
from streamproc.sinks.s3.layout import (
    MAX_PART_BYTES,
    Rejected,
    S3ArchiveSpec,
    S3TriggerEntity,
    S3TriggerSpec,
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
from streamproc.sinks.s3.markers import Marker, archive_marker_key, trigger_marker_key
from streamproc.sinks.s3.trigger import S3TriggerSink
from tests.unit.sinks.aws_errors import client_error

TS = 1_700_000_000_123  # 2023-11-14T22:13:20.123Z


def rec(
    offset: int = 0,
    *,
    entity: str = "reservations",
    op: str = "insert",
    key: dict | None = None,
    doc: dict | None = None,
    ts_ms: int | None = TS,
    complete: bool = True,
    topic: str = "streamproc.events.reservations",
    partition: int = 0,
) -> SinkRecord:
    key = {"_id": "65a1b2c3d4e5f60718293a4b"} if key is None else key
    if doc is None and op != "delete" and complete:
        doc = {**key, "name": "Zoë", "n": offset}
    return SinkRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        entity=entity,
        op=op,
        event_type=f"{entity}.{op}",
        namespace="app.reservations",
        key=key,
        position=(ts_ms or 0, offset),
        ts_ms=ts_ms,
        doc=doc,
        before=None,
        complete=complete,
    )


def trigger_spec(queue: str | None = "streamproc-reservations.fifo", **kw) -> S3TriggerSpec:
    return S3TriggerSpec(
        bucket="changes",
        env="prod/",
        entities={"reservations": S3TriggerEntity(collection="reservations", queue=queue)},
        **kw,
    )


# ----------------------------------------------------------------- JSON.stringify compatibility


def test_js_json_is_compact_utf8_without_escaping_non_ascii() -> None:
    out = js_json({"name": "Zoë € 😀", "nested": {"a": [1, 2]}, "t": True, "z": None})
    assert out == '{"name":"Zoë € 😀","nested":{"a":[1,2]},"t":true,"z":null}'.encode()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5.0, "5"),
        (-0.0, "0"),
        (0.1, "0.1"),
        (1e-6, "0.000001"),
        (1.5e-6, "0.0000015"),
        (1e-7, "1e-7"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (123.456, "123.456"),
        (-2.5e-8, "-2.5e-8"),
        (float("nan"), "null"),
        (float("inf"), "null"),
    ],
)
def test_numbers_print_as_javascript_prints_them(value: float, text: str) -> None:
    assert js_json([value]) == f"[{text}]".encode()
    if math.isfinite(value) and not value.is_integer():
        assert js_number(value) == text


def test_escapes_match_json_stringify() -> None:
    assert js_json('a\nb\t\x01"\\/\u2028') == b'"a\\nb\\t\\u0001\\"\\\\/\xe2\x80\xa8"'
    assert js_json({"s": "x\ud800y"}) == b'{"s":"x\\ud800y"}'  # lone surrogate, like well-formed JSON.stringify
    assert js_json({"big": 2**70, "f": 2.0}) == b'{"big":1180591620717411303424,"f":2}'


# ----------------------------------------------------------------- keys


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


# ----------------------------------------------------------------- parts


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


# ----------------------------------------------------------------- records → plan


def test_insert_plan_and_fifo_message() -> None:
    r = rec(doc={"_id": "65a1b2c3d4e5f60718293a4b", "name": "Zoë", "price": 10.0})
    item = plan_trigger(trigger_spec(), r)
    assert isinstance(item, TriggerObject)
    key = f"prod/reservations/65a1b2c3d4e5f60718293a4b-{TS}"
    assert item.parts == ((key, '{"_id":"65a1b2c3d4e5f60718293a4b","name":"Zoë","price":10}'.encode()),)
    m = item.message
    assert m.body == '{"operation":"insert","S3FilePartsOfJSONDocument":[{"Bucket":"changes","Key":"%s"}]}' % key
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


# ----------------------------------------------------------------- SQS ids and bodies


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


# ----------------------------------------------------------------- sink.plan without a network


UNREACHABLE = AwsSettings(endpoint_url="http://127.0.0.1:9")


def test_trigger_sink_plan_needs_no_connection() -> None:
    sink = S3TriggerSink(trigger_spec(), UNREACHABLE)
    records = [
        rec(0),
        rec(1, op="delete", doc=None),
        rec(2, entity="other"),
        rec(3, op="update", doc=None, complete=False),
    ]
    actions = sink.plan(records)
    assert [a["kind"] for a in actions] == ["s3", "sqs", "s3", "sqs", "dlq"]
    s3 = actions[0]
    assert s3["bucket"] == "changes" and s3["key"].startswith("prod/reservations/") and len(s3["sha256"]) == 64
    assert s3["bytes"] == len(js_json(records[0].doc))
    assert actions[1]["body"]["operation"] == "insert" and actions[1]["group"] == "reservations"
    assert actions[1]["dedup_id"] == s3["key"]
    assert sink.plan(records) == actions  # deterministic
    assert sink.wants(records[0]) and not sink.wants(records[2])


# ----------------------------------------------------------------- markers


def test_marker_round_trip_and_keys() -> None:
    m = Marker(41, ("a", "b"))
    assert Marker.decode(m.encode()) == m
    assert Marker.decode(b'{"offset": 3}') == Marker(3)
    with pytest.raises(ValueError):
        Marker.decode(b"garbage")
    assert trigger_marker_key("prod/", "t", 2) == "prod/_streamproc/offsets/t/2"
    assert trigger_marker_key("", "t", 2) == "_streamproc/offsets/t/2"
    assert archive_marker_key("archive", "t", 0) == "_streamproc/archive-offsets/archive/t/0"


# ----------------------------------------------------------------- archive


def archive_spec(**kw) -> S3ArchiveSpec:
    return S3ArchiveSpec(bucket="lake", **kw)


def read_avro(body: bytes) -> list[dict]:
    return list(fastavro.reader(io.BytesIO(body)))


def test_hour_partition() -> None:
    assert hour_partition(TS) == "year=2023/month=11/day=14/hour=22"
    assert hour_partition(None) == "year=1970/month=01/day=01/hour=00"


def test_object_key_names() -> None:
    spec = archive_spec()
    assert object_key(spec, "users", "year=2023/month=11/day=14/hour=22", "streamproc.events.users", 3, 120) == (
        "archive/users/year=2023/month=11/day=14/hour=22/streamproc.events.users+3+120.avro"
    )
    assert object_key(archive_spec(format="jsonl", prefix="/lake/"), "u", "h", "t", 0, 1) == "lake/u/h/t+0+1.jsonl.gz"


def test_grouping_by_entity_hour_topic_partition() -> None:
    hour = 3_600_000
    records = [
        rec(0),
        rec(1, ts_ms=TS + hour),
        rec(2, entity="users", topic="streamproc.events.users"),
        rec(3),
        rec(4, partition=1),
        rec(5, ts_ms=None),
    ]
    objects, rejected = plan_archive(archive_spec(), records)
    assert not rejected
    got = {(o.key.split("/")[1], o.key.split("/")[5], o.offsets) for o in objects}
    assert got == {
        ("reservations", "hour=22", (0, 3)),
        ("reservations", "hour=23", (1,)),
        ("users", "hour=22", (2,)),
        ("reservations", "hour=22", (4,)),
        ("reservations", "hour=00", (5,)),
    }
    first = next(o for o in objects if o.offsets == (0, 3))
    assert first.key == "archive/reservations/year=2023/month=11/day=14/hour=22/streamproc.events.reservations+0+0.avro"
    rows = read_avro(first.body)
    assert [r["offset"] for r in rows] == [0, 3]
    assert json.loads(rows[0]["doc"]) == records[0].doc and json.loads(rows[0]["key"]) == records[0].key
    assert rows[0]["position"] == [TS, 0] and rows[0]["ts_ms"] == TS and rows[0]["op"] == "insert"


def test_rotation_by_records_and_bytes() -> None:
    records = [rec(i) for i in range(7)]
    objects, _ = plan_archive(archive_spec(max_records=3), records)
    assert [o.offsets for o in objects] == [(0, 1, 2), (3, 4, 5), (6,)]
    assert [o.key.rsplit("+", 1)[1] for o in objects] == ["0.avro", "3.avro", "6.avro"]

    big = [rec(i, doc={"_id": "x", "pad": "p" * 1000}) for i in range(5)]
    objects, _ = plan_archive(archive_spec(max_bytes=2500), big)
    assert [o.offsets for o in objects] == [(0, 1), (2, 3), (4,)]


def test_a_longer_redelivery_yields_the_same_keys_with_supersets() -> None:
    records = [rec(i) for i in range(10)]
    short, _ = plan_archive(archive_spec(max_records=4), records[:6])
    long, _ = plan_archive(archive_spec(max_records=4), records)
    by_key = {o.key: o.offsets for o in long}
    for o in short:
        assert set(o.offsets) <= set(by_key[o.key])


def test_avro_bytes_are_deterministic_and_readable() -> None:
    records = [rec(i) for i in range(50)]
    for codec in ("deflate", "snappy", "null"):
        a, _ = plan_archive(archive_spec(codec=codec), records)
        b, _ = plan_archive(archive_spec(codec=codec), records)
        assert [o.body for o in a] == [o.body for o in b]
        reader = fastavro.reader(io.BytesIO(a[0].body))
        assert reader.codec == codec and reader.writer_schema["name"] == "streamproc.archive.ChangeEvent"
        assert [r["offset"] for r in reader] == list(range(50))
        assert a[0].body.endswith(sync_marker(a[0].key))
    assert ENVELOPE_SCHEMA["fields"][0]["name"] == "entity"


def test_sync_marker_derives_from_the_key() -> None:
    assert sync_marker("a") == sync_marker("a") != sync_marker("b")
    assert len(sync_marker("a")) == 16


def test_jsonl_is_deterministic_gzip_with_nested_documents() -> None:
    records = [rec(i) for i in range(3)]
    a, _ = plan_archive(archive_spec(format="jsonl"), records)
    b, _ = plan_archive(archive_spec(format="jsonl"), records)
    assert a[0].body == b[0].body
    lines = gzip.decompress(a[0].body).splitlines()
    rows = [json.loads(line) for line in lines]
    assert rows[0]["doc"] == records[0].doc and rows[0]["key"] == records[0].key
    assert [r["offset"] for r in rows] == [0, 1, 2]


def test_unarchivable_record_is_rejected() -> None:
    bad = SinkRecord(
        topic="t",
        partition=0,
        offset=9,
        entity="reservations",
        op="insert",
        event_type="",
        namespace=None,
        key={"_id": "x"},
        position=(2**64,),
        ts_ms=TS,
        doc={},
        before=None,
        complete=True,
    )
    objects, rejected = plan_archive(archive_spec(), [rec(0), bad])
    assert [o.offsets for o in objects] == [(0,)]
    assert [r.record.offset for r in rejected] == [9] and "64-bit" in rejected[0].reason


def test_archive_sink_plan_needs_no_connection() -> None:
    sink = S3ArchiveSink(archive_spec(entities=["reservations"]), UNREACHABLE)
    actions = sink.plan([rec(0), rec(1), rec(2, entity="users")])
    assert len(actions) == 1
    a = actions[0]
    assert a["kind"] == "s3" and a["bucket"] == "lake" and a["records"] == 2 and len(a["sha256"]) == 64
    assert sink.plan([rec(0), rec(1)]) == actions


def test_public_api() -> None:
    import streamproc.sinks.s3.archive
    import streamproc.sinks.s3.archive_format
    import streamproc.sinks.s3.aws
    import streamproc.sinks.s3.js_json
    import streamproc.sinks.s3.layout
    import streamproc.sinks.s3.markers
    import streamproc.sinks.s3.parity
    import streamproc.sinks.s3.trigger

    assert streamproc.sinks.s3.trigger.__all__ == ["S3TriggerSink"]
    assert streamproc.sinks.s3.archive.__all__ == ["S3ArchiveSink"]
    assert streamproc.sinks.s3.aws.__all__ == ["boto_config", "make_client", "classify_error"]
    assert S3TriggerSink.name == "s3" and S3ArchiveSink.name == "s3-archive"
    for mod in (
        streamproc.sinks.s3.aws,
        streamproc.sinks.s3.trigger,
        streamproc.sinks.s3.archive,
        streamproc.sinks.s3.layout,
        streamproc.sinks.s3.markers,
        streamproc.sinks.s3.js_json,
        streamproc.sinks.s3.archive_format,
        streamproc.sinks.s3.parity,
    ):
        for name in mod.__all__:
            assert hasattr(mod, name), f"{mod.__name__}.{name}"


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


def test_error_mapping_at_the_boundary() -> None:
    from botocore.exceptions import (
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    from streamproc.errors import FatalSinkError, RetriableSinkError, SinkBackpressure
    from streamproc.sinks.s3.aws import classify_error

    slow = classify_error(client_error("SlowDown", 503), "PutObject", bucket="b")
    assert isinstance(slow, SinkBackpressure) and slow.retry_after > 0
    assert isinstance(
        classify_error(client_error("ThrottlingException", 400), "SendMessageBatch", queue="q"), SinkBackpressure
    )
    gone = classify_error(client_error("NoSuchBucket", 404), "PutObject", bucket="my-bucket")
    assert isinstance(gone, FatalSinkError) and "my-bucket" in str(gone) and gone.__cause__ is not None
    head = classify_error(client_error("404", 404), "HeadBucket", bucket="my-bucket")
    assert isinstance(head, FatalSinkError) and "'my-bucket' does not exist" in str(head)
    noq = classify_error(client_error("AWS.SimpleQueueService.NonExistentQueue", 400), "SendMessageBatch", queue="q1")
    assert isinstance(noq, FatalSinkError) and "'q1'" in str(noq)
    denied = classify_error(client_error("AccessDenied", 403), "PutObject", bucket="b")
    assert isinstance(denied, FatalSinkError) and "denied" in str(denied)
    assert isinstance(classify_error(client_error("InternalError", 500), "PutObject", bucket="b"), RetriableSinkError)
    assert classify_error(client_error("InvalidArgument", 400), "PutObject", bucket="b") is None
    url = "http://127.0.0.1:9/b/prod/users/secret-doc-1"
    refused = classify_error(EndpointConnectionError(endpoint_url=url), "PutObject", bucket="b")
    assert isinstance(refused, RetriableSinkError) and "secret-doc" not in str(refused)
    assert isinstance(classify_error(ReadTimeoutError(endpoint_url=url), "PutObject"), RetriableSinkError)
    assert isinstance(classify_error(NoCredentialsError(), "HeadBucket"), FatalSinkError)


# ----------------------------------------------------------------- event times beyond the datetime range


MICROS = 1_700_000_000_123_000  # a microsecond timestamp in ts_ms: year ~55800, inside 64 bits


@pytest.mark.parametrize("ts_ms", [MICROS, 2**63 - 1, -(2**63), 253_402_300_800_000, -62_135_596_800_001])
def test_hour_partition_outside_the_datetime_range_names_no_value(ts_ms: int) -> None:
    with pytest.raises(ValueError, match="^ts_ms outside the datetime range$"):
        hour_partition(ts_ms)


def test_hour_partition_edges_of_the_datetime_range() -> None:
    assert hour_partition(253_402_300_799_999) == "year=9999/month=12/day=31/hour=23"
    assert hour_partition(-62_135_596_800_000) == "year=0001/month=01/day=01/hour=00"
    assert hour_partition(-1) == "year=1969/month=12/day=31/hour=23"


def test_event_time_beyond_year_9999_is_rejected_not_raised() -> None:
    """plan() (dry-run) and write() share plan_archive: such a record goes to the DLQ, the rest is archived."""
    objects, rejected = plan_archive(archive_spec(), [rec(0), rec(1, ts_ms=MICROS), rec(2)])
    assert [o.offsets for o in objects] == [(0, 2)]
    assert [(r.record.offset, r.reason, r.error_class) for r in rejected] == [
        (1, "ts_ms outside the datetime range", "invalid")
    ]
    assert str(MICROS) not in rejected[0].reason
    actions = S3ArchiveSink(archive_spec(), UNREACHABLE).plan([rec(0), rec(1, ts_ms=MICROS)])
    assert [a["kind"] for a in actions] == ["s3", "dlq"] and actions[1]["offset"] == 1


# ----------------------------------------------------------------- error classification


@pytest.mark.parametrize(
    "code", ["RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", "OperationAborted"]
)
@pytest.mark.parametrize("status", [400, 409])
def test_transient_codes_are_retriable(code: str, status: int) -> None:
    from streamproc.errors import RetriableSinkError
    from streamproc.sinks.s3.aws import classify_error

    err = classify_error(client_error(code, status), "PutObject", bucket="b")
    assert type(err) is RetriableSinkError and code in str(err) and err.__cause__ is not None


@pytest.mark.parametrize(
    "code",
    [
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "EC2ThrottledException",
        "KMS.ThrottlingException",
        "AWS.SimpleQueueService.RequestThrottled",
        "KmsThrottled",
    ],
)
def test_throttle_codes_are_backpressure(code: str) -> None:
    from streamproc.errors import SinkBackpressure
    from streamproc.sinks.s3.aws import classify_error

    err = classify_error(client_error(code, 400), "SendMessageBatch", queue="q")
    assert isinstance(err, SinkBackpressure) and err.retry_after > 0
    assert isinstance(classify_error(client_error("", 429), "PutObject"), SinkBackpressure)


def test_botocore_throttle_and_transient_codes_are_all_covered() -> None:
    """Every code botocore's standard retry mode retries is retried here too (once its attempts are spent)."""
    from botocore.retries import standard

    from streamproc.sinks.s3.aws import _THROTTLED, _TRANSIENT

    transient = getattr(standard.TransientRetryableChecker, "_TRANSIENT_ERROR_CODES", None)
    throttled = getattr(standard.ThrottledRetryableChecker, "_THROTTLED_ERROR_CODES", None)
    if transient is None or throttled is None:
        pytest.skip("botocore no longer lists its retry codes where this test looks")
    assert set(transient) <= _TRANSIENT
    assert set(throttled) <= _THROTTLED | _TRANSIENT


def test_only_unlisted_4xx_and_invalid_parameters_are_per_record() -> None:
    from botocore.exceptions import ParamValidationError

    from streamproc.sinks.s3.aws import classify_error

    for code, status in [
        ("InvalidArgument", 400),
        ("EntityTooLarge", 400),
        ("InvalidParameterValue", 400),
        ("PreconditionFailed", 412),
        ("", 413),
    ]:
        assert classify_error(client_error(code, status), "PutObject", bucket="b") is None
    assert classify_error(ParamValidationError(report="Key: too long"), "PutObject", bucket="b") is None


def test_a_redirect_is_fatal_not_per_record() -> None:
    from streamproc.errors import FatalSinkError
    from streamproc.sinks.s3.aws import classify_error

    err = classify_error(client_error("PermanentRedirect", 301), "PutObject", bucket="b")
    assert isinstance(err, FatalSinkError) and "PermanentRedirect" in str(err)


def test_other_sdk_errors_are_retriable() -> None:
    from botocore.exceptions import IncompleteReadError

    from streamproc.errors import RetriableSinkError
    from streamproc.sinks.s3.aws import classify_error

    err = classify_error(IncompleteReadError(actual_bytes=1, expected_bytes=2), "GetObject", bucket="b")
    assert isinstance(err, RetriableSinkError) and "IncompleteReadError" in str(err)


@pytest.mark.parametrize(
    "bug", [TypeError("unexpected keyword"), KeyError("Body"), ValueError("x"), AttributeError("y")]
)
def test_a_bug_is_re_raised_not_classified(bug: Exception) -> None:
    from streamproc.sinks.s3.aws import classify_error

    with pytest.raises(type(bug)) as info:
        classify_error(bug, "PutObject", bucket="b")
    assert info.value is bug


def test_gather_raises_a_bug_before_any_sink_error() -> None:
    import asyncio

    from streamproc.errors import FatalSinkError, RetriableSinkError, SinkBackpressure
    from streamproc.sinks.s3.aws import _gather

    async def ok(v: int) -> int:
        return v

    async def fail(e: BaseException) -> int:
        raise e

    async def go(*aws) -> list[int]:
        return await _gather(aws)

    assert asyncio.run(go(ok(1), ok(2))) == [1, 2]
    assert asyncio.run(go()) == []
    fatal = FatalSinkError("f")
    with pytest.raises(FatalSinkError) as info:
        asyncio.run(go(fail(RetriableSinkError("r")), fail(fatal), fail(SinkBackpressure("b", retry_after=1))))
    assert info.value is fatal
    with pytest.raises(TypeError):
        asyncio.run(go(fail(fatal), fail(TypeError("bug")), ok(3)))


class FakeS3:
    """Just enough of an S3 client for the trigger sink: no markers yet, and put_object raising
    ``put_error`` (or storing the body)."""

    def __init__(self, put_error: Exception | None = None) -> None:
        self.put_error = put_error
        self.objects: dict[str, bytes] = {}
        self.gets = 0

    def get_object(self, Bucket: str, Key: str) -> dict:
        self.gets += 1
        if Key in self.objects:
            return {"Body": io.BytesIO(self.objects[Key])}
        raise client_error("NoSuchKey", 404)

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str) -> dict:
        if self.put_error is not None and "_streamproc" not in Key:
            raise self.put_error
        self.objects[Key] = Body
        return {}


def _trigger_with(fake: FakeS3) -> S3TriggerSink:
    sink = S3TriggerSink(trigger_spec(queue=None), UNREACHABLE)
    sink._clients["s3"] = fake
    return sink


def _write(sink: S3TriggerSink, batch: SinkBatch) -> SinkBatch:
    """Write one batch, then stop the sink (also when write() raised)."""
    import asyncio

    async def go() -> None:
        try:
            await sink.write(batch)
        finally:
            await sink.stop()

    asyncio.run(go())
    return batch


OTHER = {"_id": "65a1b2c3d4e5f60718293a4c"}


@pytest.mark.parametrize(
    ("code", "status"), [("RequestTimeout", 400), ("OperationAborted", 409), ("SlowDown", 503), ("InternalError", 500)]
)
def test_a_transient_s3_failure_retries_the_batch_instead_of_the_dlq(code: str, status: int) -> None:
    from streamproc.errors import RetriableSinkError, SinkBackpressure

    fake = FakeS3(put_error=client_error(code, status))
    batch = SinkBatch([rec(0), rec(1, key=OTHER)])
    with pytest.raises((RetriableSinkError, SinkBackpressure)):
        _write(_trigger_with(fake), batch)
    assert batch.failures == [] and fake.objects == {}  # nothing to the DLQ, no marker moved


def test_a_bug_in_a_put_stops_the_write_instead_of_the_dlq() -> None:
    fake = FakeS3(put_error=TypeError("put_object() got an unexpected keyword argument"))
    batch = SinkBatch([rec(0), rec(1, key=OTHER)])
    with pytest.raises(TypeError):
        _write(_trigger_with(fake), batch)
    assert batch.failures == [] and fake.objects == {}


def test_an_object_s3_refuses_goes_to_the_dlq_and_the_marker_moves() -> None:
    fake = FakeS3(put_error=client_error("InvalidArgument", 400))
    batch = _write(_trigger_with(fake), SinkBatch([rec(0), rec(1, key=OTHER)]))
    assert [(f.record.offset, f.error_class) for f in batch.failures] == [(0, "permanent"), (1, "permanent")]
    assert Marker.decode(fake.objects["prod/_streamproc/offsets/streamproc.events.reservations/0"]) == Marker(1)


def test_records_at_or_below_the_marker_are_skipped_and_a_marker_read_is_one_thread_hop() -> None:
    fake = FakeS3()
    fake.objects["prod/_streamproc/offsets/streamproc.events.reservations/0"] = Marker(0).encode()
    sink = _trigger_with(fake)
    hops: list[str] = []
    call = sink.call

    async def counted(fn, /, *args, **kwargs):
        hops.append(getattr(fn, "__name__", repr(fn)))
        return await call(fn, *args, **kwargs)

    sink.call = counted  # type: ignore[method-assign]
    batch = _write(sink, SinkBatch([rec(0), rec(1, key=OTHER)]))
    assert batch.failures == [] and fake.gets == 1
    assert hops.count("_get_bytes") == 1 and "read" not in hops
    assert [k for k in fake.objects if "_streamproc" not in k] == [f"prod/reservations/65a1b2c3d4e5f60718293a4c-{TS}"]
    assert Marker.decode(fake.objects["prod/_streamproc/offsets/streamproc.events.reservations/0"]) == Marker(1)
