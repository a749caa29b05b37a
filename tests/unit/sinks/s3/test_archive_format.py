"""Archive mode, pure (``streamproc.sinks.s3.archive_format``): grouping, rotation, object names,
deterministic Avro and gzip JSON Lines, event times outside the datetime range. No network."""

from __future__ import annotations

import gzip
import io
import json

import fastavro
import pytest

from streamproc.sinks.base import SinkRecord
from streamproc.sinks.s3.archive_format import (
    ENVELOPE_SCHEMA,
    hour_partition,
    object_key,
    plan_archive,
    sync_marker,
)
from tests.unit.sinks.s3.records import MICROS, TS, archive_spec, rec


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


@pytest.mark.parametrize("ts_ms", [MICROS, 2**63 - 1, -(2**63), 253_402_300_800_000, -62_135_596_800_001])
def test_hour_partition_outside_the_datetime_range_names_no_value(ts_ms: int) -> None:
    with pytest.raises(ValueError, match="^ts_ms outside the datetime range$"):
        hour_partition(ts_ms)


def test_hour_partition_edges_of_the_datetime_range() -> None:
    assert hour_partition(253_402_300_799_999) == "year=9999/month=12/day=31/hour=23"
    assert hour_partition(-62_135_596_800_000) == "year=0001/month=01/day=01/hour=00"
    assert hour_partition(-1) == "year=1969/month=12/day=31/hour=23"
