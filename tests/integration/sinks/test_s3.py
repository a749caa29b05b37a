"""The S3 (+SQS) sinks and ``streamproc parity`` against moto in server mode (real HTTP APIs)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import duckdb
import fastavro
import pytest
from botocore.exceptions import ClientError

from streamproc.cli.parity import run_parity
from streamproc.config.settings import SinkRuntimeSettings
from streamproc.config.sink_s3 import S3ArchiveSpec, S3TriggerEntity, S3TriggerSpec
from streamproc.errors import FatalSinkError, RetriableSinkError
from streamproc.jsonutil import dumps
from streamproc.runtime.metrics import SinkMetrics
from streamproc.sinks.base import SinkBatch, SinkRecord, record_from_message
from streamproc.sinks.runner import SinkRunner
from streamproc.sinks.s3.archive import S3ArchiveSink
from streamproc.sinks.s3.aws import boto_config
from streamproc.sinks.s3.js_json import js_json
from streamproc.sinks.s3.layout import MAX_PART_BYTES
from streamproc.sinks.s3.markers import Marker, archive_marker_key
from streamproc.sinks.s3.trigger import S3TriggerSink
from tests.services.moto import MotoService, unique_name
from tests.unit.sinks.printable import chain, printable

TS = 1_700_000_000_123
HOUR = 3_600_000
FAST = boto_config(connect_timeout=1, read_timeout=3, max_attempts=1)


def rec(
    offset: int,
    *,
    entity: str = "reservations",
    op: str = "insert",
    doc_id: str | None = None,
    doc: dict | None = None,
    ts_ms: int | None = None,
    partition: int = 0,
    complete: bool = True,
) -> SinkRecord:
    doc_id = doc_id or f"doc{offset:04d}"
    key = {"_id": doc_id}
    if doc is None and op != "delete" and complete:
        doc = {"_id": doc_id, "guest": "Zoë Ünal", "nights": offset, "price": 99.0}
    return SinkRecord(
        topic=f"streamproc.events.{entity}",
        partition=partition,
        offset=offset,
        entity=entity,
        op=op,
        event_type=f"{entity}.{op}",
        namespace=f"app.{entity}",
        key=key,
        position=(ts_ms or TS + offset, 0),
        ts_ms=TS + offset if ts_ms is None else ts_ms,
        doc=doc,
        before=None,
        complete=complete,
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def write(sink: Any, records: list[SinkRecord]) -> SinkBatch:
    batch = SinkBatch(list(records))
    await sink.write(batch)
    return batch


def drain(sqs: Any, url: str) -> list[dict]:
    """Every message currently in the queue (received and deleted)."""
    out: list[dict] = []
    while True:
        resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0)
        msgs = resp.get("Messages") or []
        if not msgs:
            return out
        out.extend(msgs)
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
        )


def body_of(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def keys_under(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for p in pages for o in p.get("Contents") or ())


@pytest.fixture
def trigger(moto_server: MotoService, aws_settings: Any):
    """A started S3TriggerSink over a fresh bucket: reservations → FIFO queue, users → standard queue."""
    bucket = unique_name("changes")
    fifo, std = unique_name("res") + ".fifo", unique_name("users")
    spec = S3TriggerSpec(
        bucket=bucket,
        env="prod/",
        entities={
            "reservations": S3TriggerEntity(collection="reservations", queue=fifo),
            "users": S3TriggerEntity(queue=std),
            "owners": S3TriggerEntity(),
        },
    )

    def make() -> S3TriggerSink:
        sink = S3TriggerSink(spec, aws_settings, create_missing=True, config=FAST)
        run(sink.start())
        return sink

    sink = make()
    sink.make = make  # type: ignore[attr-defined]
    yield sink
    run(sink.stop())


def test_trigger_mode_end_to_end_fifo_and_standard(trigger: S3TriggerSink, s3_client: Any, sqs_client: Any) -> None:
    bucket = trigger.spec.bucket
    records = [
        rec(0),
        rec(1, op="update"),
        rec(2, op="delete", doc_id="doc0000"),
        rec(3, entity="users", doc_id="u1"),
        rec(4, entity="owners", doc_id="o1"),
        rec(5, op="update", doc=None, complete=False),
        rec(6, entity="ignored"),
    ]
    batch = run(write(trigger, records))

    assert [(f.record.offset, f.error_class) for f in batch.failures] == [(5, "invalid")]
    assert keys_under(s3_client, bucket, "prod/") == sorted(
        [
            f"prod/reservations/doc0000-{TS}",
            f"prod/reservations/doc0001-{TS + 1}",
            f"prod/reservations/doc0000-{TS + 2}",
            f"prod/users/u1-{TS + 3}",
            f"prod/owners/o1-{TS + 4}",
            "prod/_streamproc/offsets/streamproc.events.reservations/0",
            "prod/_streamproc/offsets/streamproc.events.users/0",
            "prod/_streamproc/offsets/streamproc.events.owners/0",
        ]
    )
    first = body_of(s3_client, bucket, f"prod/reservations/doc0000-{TS}")
    assert first == '{"_id":"doc0000","guest":"Zoë Ünal","nights":0,"price":99}'.encode()
    assert first == js_json(records[0].doc)
    assert body_of(s3_client, bucket, f"prod/reservations/doc0000-{TS + 2}") == b'{"_id":"doc0000"}'

    fifo_msgs = drain(sqs_client, trigger.queue_urls[trigger.spec.queue("reservations")])
    assert [json.loads(m["Body"]) for m in fifo_msgs] == [
        {"operation": op, "S3FilePartsOfJSONDocument": [{"Bucket": bucket, "Key": key}]}
        for op, key in [
            ("insert", f"prod/reservations/doc0000-{TS}"),
            ("update", f"prod/reservations/doc0001-{TS + 1}"),
            ("delete", f"prod/reservations/doc0000-{TS + 2}"),
        ]
    ]
    assert {m["Attributes"]["MessageGroupId"] for m in fifo_msgs} == {"reservations"}
    assert [m["Attributes"]["MessageDeduplicationId"] for m in fifo_msgs] == [
        f"prod/reservations/doc0000-{TS}",
        f"prod/reservations/doc0001-{TS + 1}",
        f"prod/reservations/doc0000-{TS + 2}",
    ]

    std_msgs = drain(sqs_client, trigger.queue_urls[trigger.spec.queue("users")])
    assert len(std_msgs) == 1 and "MessageGroupId" not in std_msgs[0]["Attributes"]
    assert json.loads(std_msgs[0]["Body"])["S3FilePartsOfJSONDocument"] == [
        {"Bucket": bucket, "Key": f"prod/users/u1-{TS + 3}"}
    ]


def test_ten_megabyte_document_parts_and_one_message(trigger: S3TriggerSink, s3_client: Any, sqs_client: Any) -> None:
    doc = {"_id": "big", "text": "Zoë😀€" * (10 * 1024 * 1024 // 10)}
    run(write(trigger, [rec(0, doc_id="big", doc=doc)]))
    bucket = trigger.spec.bucket
    keys = [f"prod/reservations/big-{TS}-{i}" for i in range(3)]
    assert keys_under(s3_client, bucket, "prod/reservations/") == keys
    bodies = [body_of(s3_client, bucket, k) for k in keys]
    assert all(len(b) <= MAX_PART_BYTES for b in bodies) and len(bodies[0]) > MAX_PART_BYTES - 4
    for b in bodies:
        b.decode("utf-8")
    assert json.loads(b"".join(bodies)) == doc
    msgs = drain(sqs_client, trigger.queue_urls[trigger.spec.queue("reservations")])
    assert len(msgs) == 1
    assert json.loads(msgs[0]["Body"])["S3FilePartsOfJSONDocument"] == [{"Bucket": bucket, "Key": k} for k in keys]


def test_rewriting_a_batch_makes_no_second_version_or_message(
    trigger: S3TriggerSink, s3_client: Any, sqs_client: Any
) -> None:
    bucket = trigger.spec.bucket
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    records = [rec(i) for i in range(3)] + [rec(3, entity="users", doc_id="u1")]
    run(write(trigger, records))
    run(write(trigger, records))  # the runner's retry, or a redelivery after a crash before the commit

    versions = s3_client.list_object_versions(Bucket=bucket, Prefix="prod/reservations/")["Versions"]
    assert len(versions) == 3
    assert len(drain(sqs_client, trigger.queue_urls[trigger.spec.queue("reservations")])) == 3
    assert len(drain(sqs_client, trigger.queue_urls[trigger.spec.queue("users")])) == 1  # standard queue: no dedup


def test_marker_skips_across_a_restart(trigger: S3TriggerSink, s3_client: Any, sqs_client: Any) -> None:
    users = trigger.queue_urls[trigger.spec.queue("users")]
    first = [rec(i, entity="users", doc_id=f"u{i}") for i in range(4)]
    run(write(trigger, first))
    run(trigger.stop())

    restarted = trigger.make()  # type: ignore[attr-defined]
    try:
        redelivered = first[2:] + [rec(i, entity="users", doc_id=f"u{i}") for i in range(4, 6)]
        run(write(restarted, redelivered))
    finally:
        run(restarted.stop())
    bodies = [json.loads(m["Body"])["S3FilePartsOfJSONDocument"][0]["Key"] for m in drain(sqs_client, users)]
    assert sorted(bodies) == sorted(f"prod/users/u{i}-{TS + i}" for i in range(6))  # each once
    marker = body_of(s3_client, trigger.spec.bucket, "prod/_streamproc/offsets/streamproc.events.users/0")
    assert Marker.decode(marker).offset == 5


def test_start_with_a_missing_bucket_or_queue_is_fatal(aws_settings: Any, s3_client: Any) -> None:
    missing = unique_name("nobucket")
    sink = S3TriggerSink(S3TriggerSpec(bucket=missing), aws_settings, config=FAST)
    with pytest.raises(FatalSinkError, match=missing):
        run(sink.start())

    bucket = unique_name("changes")
    s3_client.create_bucket(Bucket=bucket)
    queue = unique_name("noqueue") + ".fifo"
    sink = S3TriggerSink(
        S3TriggerSpec(bucket=bucket, entities={"users": S3TriggerEntity(queue=queue)}), aws_settings, config=FAST
    )
    with pytest.raises(FatalSinkError, match=queue):
        run(sink.start())

    archive = S3ArchiveSink(S3ArchiveSpec(bucket=missing), aws_settings, config=FAST)
    with pytest.raises(FatalSinkError, match=missing):
        run(archive.start())


def test_outage_is_retriable_and_recovers_without_duplicates(moto_factory: Any) -> None:
    svc: MotoService = moto_factory()
    aws = svc.aws_settings()
    queue = unique_name("outage")
    spec = S3TriggerSpec(bucket=unique_name("changes"), entities={"users": S3TriggerEntity(queue=queue)})
    sink = S3TriggerSink(spec, aws, create_missing=True, config=FAST)

    async def scenario() -> None:
        await sink.start()
        await write(sink, [rec(0, entity="users")])
        svc.stop()
        with pytest.raises(RetriableSinkError, match="cannot reach AWS"):
            await write(sink, [rec(1, entity="users")])
        svc.start()  # same port, same buckets and queues
        await write(sink, [rec(1, entity="users"), rec(2, entity="users")])
        await sink.stop()

    run(scenario())
    sqs = svc.client("sqs")
    msgs = drain(sqs, sqs.get_queue_url(QueueName=queue)["QueueUrl"])
    assert sorted(json.loads(m["Body"])["S3FilePartsOfJSONDocument"][0]["Key"] for m in msgs) == [
        f"prod/users/doc{i:04d}-{TS + i}" for i in range(3)
    ]


def test_outage_at_start_is_retriable(moto_factory: Any) -> None:
    """S3 and SQS down when both sinks start: start() raises RetriableSinkError, the runner waits
    the outage out (retries counted, not ready meanwhile), and once moto is back every record
    lands once — objects, SQS messages, archive records."""
    svc: MotoService = moto_factory()
    aws = svc.aws_settings()
    queue = unique_name("startq")
    trigger_spec = S3TriggerSpec(bucket=unique_name("changes"), entities={"users": S3TriggerEntity(queue=queue)})
    archive_spec = S3ArchiveSpec(bucket=unique_name("lake"))
    svc.client("s3").create_bucket(Bucket=trigger_spec.bucket)
    svc.client("s3").create_bucket(Bucket=archive_spec.bucket)
    svc.client("sqs").create_queue(QueueName=queue)
    svc.stop()
    with pytest.raises(RetriableSinkError, match="cannot reach AWS"):
        run(S3ArchiveSink(archive_spec, aws, config=FAST).start())

    records = [rec(i, entity="users") for i in range(3)]
    metrics = SinkMetrics()
    conf = SinkRuntimeSettings(retry_initial=0.1, retry_max=0.5, breaker_failures=3, breaker_reset=1.0)
    runners = [
        SinkRunner(S3TriggerSink(trigger_spec, aws, config=FAST), conf, metrics, lambda f, n: None),
        SinkRunner(S3ArchiveSink(archive_spec, aws, config=FAST), conf, metrics, lambda f, n: None),
    ]
    ready = metrics.registry.get_sample_value

    async def scenario() -> list[int]:
        tasks = [asyncio.ensure_future(r.deliver(records)) for r in runners]
        await asyncio.sleep(2.0)
        assert not any(t.done() for t in tasks)  # waiting, not failed
        for name in ("s3", "s3-archive"):
            assert ready("streamproc_sink_ready", {"sink": name}) == 0
            assert (ready("streamproc_sink_retries_total", {"sink": name, "reason": "transient"}) or 0) > 0
        svc.start()  # same port, same buckets and queue
        written = list(await asyncio.gather(*tasks))
        assert all(ready("streamproc_sink_ready", {"sink": r.sink.name}) == 1 for r in runners)
        for r in runners:
            await r.stop()
        return written

    assert run(scenario()) == [3, 3]
    s3, sqs = svc.client("s3"), svc.client("sqs")
    assert keys_under(s3, trigger_spec.bucket, "prod/users/") == [f"prod/users/doc{i:04d}-{TS + i}" for i in range(3)]
    msgs = drain(sqs, sqs.get_queue_url(QueueName=queue)["QueueUrl"])
    assert sorted(json.loads(m["Body"])["S3FilePartsOfJSONDocument"][0]["Key"] for m in msgs) == [
        f"prod/users/doc{i:04d}-{TS + i}" for i in range(3)
    ]
    archived = read_all_avro(s3, archive_spec.bucket)
    assert sorted(row["offset"] for rows in archived.values() for row in rows) == [0, 1, 2]


# ----------------------------------------------------------------- archive


def archive_sink(aws: Any, **kw: Any) -> S3ArchiveSink:
    sink = S3ArchiveSink(S3ArchiveSpec(bucket=unique_name("lake"), **kw), aws, create_missing=True, config=FAST)
    run(sink.start())
    return sink


def read_all_avro(s3: Any, bucket: str, prefix: str = "archive/") -> dict[str, list[dict]]:
    return {k: list(fastavro.reader(io.BytesIO(body_of(s3, bucket, k)))) for k in keys_under(s3, bucket, prefix)}


def test_archive_avro_objects_read_back_with_fastavro(aws_settings: Any, s3_client: Any) -> None:
    sink = archive_sink(aws_settings, max_records=4)
    records = (
        [rec(i) for i in range(6)]
        + [rec(6 + i, ts_ms=TS + HOUR + i) for i in range(2)]
        + [rec(20 + i, entity="users", partition=1) for i in range(3)]
    )
    run(write(sink, records))
    run(sink.stop())

    objects = read_all_avro(s3_client, sink.spec.bucket)
    assert sorted(objects) == [
        "archive/reservations/year=2023/month=11/day=14/hour=22/streamproc.events.reservations+0+0.avro",
        "archive/reservations/year=2023/month=11/day=14/hour=22/streamproc.events.reservations+0+4.avro",
        "archive/reservations/year=2023/month=11/day=14/hour=23/streamproc.events.reservations+0+6.avro",
        "archive/users/year=2023/month=11/day=14/hour=22/streamproc.events.users+1+20.avro",
    ]
    rows = [r for k in sorted(objects) for r in objects[k]]
    assert sorted(r["offset"] for r in rows) == [0, 1, 2, 3, 4, 5, 6, 7, 20, 21, 22]
    r0 = objects[sorted(objects)[0]][0]
    assert json.loads(r0["doc"]) == records[0].doc and json.loads(r0["key"]) == {"_id": "doc0000"}
    assert (r0["entity"], r0["op"], r0["ts_ms"], r0["topic"], r0["partition"]) == (
        "reservations",
        "insert",
        TS,
        "streamproc.events.reservations",
        0,
    )


def test_archive_jsonl_objects_read_back_with_duckdb(aws_settings: Any, s3_client: Any, tmp_path: Path) -> None:
    sink = archive_sink(aws_settings, format="jsonl")
    records = [rec(i) for i in range(5)] + [rec(5, op="delete")]
    run(write(sink, records))
    run(sink.stop())
    (key,) = keys_under(s3_client, sink.spec.bucket, "archive/")
    assert key.endswith("streamproc.events.reservations+0+0.jsonl.gz")
    path = tmp_path / "part.jsonl.gz"
    path.write_bytes(body_of(s3_client, sink.spec.bucket, key))
    con = duckdb.connect()
    rows = con.execute(
        f'SELECT "offset", op, key._id, doc.guest, ts_ms FROM read_json_auto(\'{path}\') ORDER BY "offset"'
    ).fetchall()
    assert rows[0] == (0, "insert", "doc0000", "Zoë Ünal", TS)
    assert rows[-1] == (5, "delete", "doc0005", None, TS + 5)
    assert len(rows) == 6


def test_archive_rewrite_is_idempotent(aws_settings: Any, s3_client: Any) -> None:
    sink = archive_sink(aws_settings)
    records = [rec(i) for i in range(5)]
    run(write(sink, records))
    before = {k: body_of(s3_client, sink.spec.bucket, k) for k in keys_under(s3_client, sink.spec.bucket, "archive/")}
    run(write(sink, records))  # at/below the marker: nothing written
    run(write(sink, records + [rec(5)]))  # only offset 5 is new
    after = {k: body_of(s3_client, sink.spec.bucket, k) for k in keys_under(s3_client, sink.spec.bucket, "archive/")}
    run(sink.stop())
    assert {k: v for k, v in after.items() if k in before} == before
    new = sorted(set(after) - set(before))
    assert len(new) == 1 and new[0].endswith("+5.avro")


def test_archive_crash_with_a_smaller_redelivery_leaves_each_record_once(aws_settings: Any, s3_client: Any) -> None:
    """A worker wrote objects for offsets 0..9 and died before its marker said so; the redelivery
    comes in smaller batches, so some old objects are not overwritten: they must go."""
    sink = archive_sink(aws_settings, max_records=3)
    bucket = sink.spec.bucket
    records = [rec(i) for i in range(10)]
    run(write(sink, records))
    written = keys_under(s3_client, bucket, "archive/")
    assert [k.rsplit("+", 1)[1] for k in written] == ["0.avro", "3.avro", "6.avro", "9.avro"]
    marker_key = archive_marker_key("archive", "streamproc.events.reservations", 0)
    s3_client.put_object(Bucket=bucket, Key=marker_key, Body=Marker(-1, tuple(written)).encode())  # the crash

    restarted = S3ArchiveSink(sink.spec, aws_settings, config=FAST)
    run(restarted.start())
    run(write(restarted, records[:2]))  # rewrites +0 with 0..1 and must delete +3, +6 and +9
    run(write(restarted, records[2:]))  # +2, +5, +8
    run(restarted.stop())
    rows = [r for rs in read_all_avro(s3_client, bucket).values() for r in rs]
    assert sorted(r["offset"] for r in rows) == list(range(10))
    assert Marker.decode(body_of(s3_client, bucket, marker_key)) == Marker(9)


def test_archive_event_time_beyond_year_9999_goes_to_the_dlq(aws_settings: Any, s3_client: Any) -> None:
    """A microsecond timestamp in ts_ms fits 64 bits but no datetime: that record is rejected, the
    others are archived and the marker moves (before, write() raised on every restart)."""
    sink = archive_sink(aws_settings)
    micros = (TS + 1) * 1000
    batch = run(write(sink, [rec(0), rec(1, ts_ms=micros), rec(2)]))
    run(sink.stop())
    assert [(f.record.offset, f.reason, f.error_class) for f in batch.failures] == [
        (1, "ts_ms outside the datetime range", "invalid")
    ]
    rows = [r for rs in read_all_avro(s3_client, sink.spec.bucket).values() for r in rs]
    assert sorted(r["offset"] for r in rows) == [0, 2]
    marker = archive_marker_key("archive", "streamproc.events.reservations", 0)
    assert Marker.decode(body_of(s3_client, sink.spec.bucket, marker)) == Marker(2)


# ----------------------------------------------------------------- parity


class CountingGets:
    """An S3 client that records the keys of its GetObject calls."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.gets: list[str] = []

    def get_object(self, **kwargs: Any) -> Any:
        self.gets.append(kwargs["Key"])
        return self.client.get_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_parity_counts_mismatches_and_missing(trigger: S3TriggerSink, s3_client: Any) -> None:
    bucket = trigger.spec.bucket
    # the triggers' tree (prod/) by hand; streamproc's shadow tree (dev/) through the sink
    docs = [rec(i) for i in range(8)] + [rec(8, doc={"_id": "doc0008", "text": "Zoë" * 2_000_000})]
    for r in docs:
        body = js_json(r.doc)
        base = f"prod/reservations/{r.key['_id']}-{r.ts_ms}"
        if len(body) > MAX_PART_BYTES:
            s3_client.put_object(Bucket=bucket, Key=f"{base}-0", Body=body[: MAX_PART_BYTES - 1])
            s3_client.put_object(Bucket=bucket, Key=f"{base}-1", Body=body[MAX_PART_BYTES - 1 :])
        elif r.offset != 7:  # the triggers missed document 7: it is only on the right
            s3_client.put_object(Bucket=bucket, Key=base, Body=body)
    s3_client.put_object(Bucket=bucket, Key=f"prod/reservations/extra-{TS + 50}", Body=b"{}")  # only on the left
    s3_client.put_object(Bucket=bucket, Key="prod/reservations/README", Body=b"not a change")

    dev = S3TriggerSpec(bucket=bucket, env="dev/", entities={"reservations": S3TriggerEntity()})
    shadow = S3TriggerSink(dev, trigger.aws, config=FAST)
    run(shadow.start())
    changed = [rec(i, doc={"_id": f"doc{i:04d}", "guest": "someone else"}) if i == 3 else docs[i] for i in range(9)]
    run(write(shadow, changed))
    run(shadow.stop())

    out, err = io.StringIO(), io.StringIO()
    left, right = f"s3://{bucket}/prod/reservations", f"s3://{bucket}/dev/reservations/"
    counting = CountingGets(s3_client)
    code = run_parity(left, right, None, 99.9, True, out, counting, err=err)
    result = json.loads(out.getvalue())
    assert code == 1, err.getvalue()
    assert counting.gets == []  # equal ETags part by part (0-2, 4-6, 8), different sizes (3): no download
    assert {k: result[k] for k in ("pairs", "matches", "mismatches", "missing_left", "missing_right")} == {
        "pairs": 10,
        "matches": 7,
        "mismatches": 1,
        "missing_left": 1,
        "missing_right": 1,
    }
    assert result["match_rate"] == 70.0 and result["passed"] is False
    assert result["left_unrecognised"] == 1 and result["left_objects"] == 10 and result["right_objects"] == 10

    out = io.StringIO()
    assert run_parity(left, right, None, 70.0, False, out, s3_client) == 0
    text = out.getvalue()
    assert "matches:          7" in text and "mismatches:       1" in text and "match rate: 70.00%" in text
    assert "PASS" in text

    out = io.StringIO()  # --since after the mismatch and the missing document 7: only 8 is compared
    assert run_parity(left, right, "2023-11-14T22:13:20.131Z", 99.9, True, out, s3_client) == 1
    result = json.loads(out.getvalue())
    assert (result["pairs"], result["matches"], result["missing_right"]) == (2, 1, 1)


def test_parity_missing_bucket_is_a_usage_error(s3_client: Any) -> None:
    missing = unique_name("nobucket")
    err = io.StringIO()
    code = run_parity(
        f"s3://{missing}/prod/x", f"s3://{missing}/dev/x", None, 99.9, False, io.StringIO(), s3_client, err=err
    )
    assert code == 2 and f"bucket '{missing}' does not exist" in err.getvalue()


def test_parity_on_identical_trees_passes(trigger: S3TriggerSink, s3_client: Any) -> None:
    run(write(trigger, [rec(i) for i in range(3)]))
    bucket = trigger.spec.bucket
    for k in keys_under(s3_client, bucket, "prod/reservations/"):
        s3_client.copy_object(Bucket=bucket, Key="dev/" + k[5:], CopySource={"Bucket": bucket, "Key": k})
    out = io.StringIO()
    counting = CountingGets(s3_client)
    assert (
        run_parity(
            f"s3://{bucket}/prod/reservations", f"s3://{bucket}/dev/reservations", None, 100.0, False, out, counting
        )
        == 0
    )
    assert "match rate: 100.00%" in out.getvalue()
    assert counting.gets == []  # equal ETags: matched without a download


def test_parity_settles_different_etags_by_the_bytes(s3_client: Any) -> None:
    """A multipart upload's ETag ("…-2") differs from a single PUT's for the same bytes: both sides
    are downloaded and the SHA-256 decides."""
    bucket = unique_name("etags")
    s3_client.create_bucket(Bucket=bucket)
    body = b'{"pad":"' + b"x" * (6 * 1024 * 1024) + b'"}'
    s3_client.put_object(Bucket=bucket, Key=f"prod/x/a-{TS}", Body=body)
    key = f"dev/x/a-{TS}"
    upload = s3_client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    cut = 5 * 1024 * 1024
    parts = [
        {
            "PartNumber": n,
            "ETag": s3_client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n, Body=chunk)["ETag"],
        }
        for n, chunk in ((1, body[:cut]), (2, body[cut:]))
    ]
    s3_client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
    etags = {s3_client.head_object(Bucket=bucket, Key=k)["ETag"] for k in (f"prod/x/a-{TS}", key)}
    assert len(etags) == 2

    out, counting = io.StringIO(), CountingGets(s3_client)
    assert run_parity(f"s3://{bucket}/prod/x", f"s3://{bucket}/dev/x", None, 100.0, True, out, counting) == 0
    assert json.loads(out.getvalue())["matches"] == 1
    assert sorted(counting.gets) == [key, f"prod/x/a-{TS}"]


def test_client_error_names_no_document(trigger: S3TriggerSink) -> None:
    """Error messages name the bucket/queue and AWS code, never an object key (a document id)."""
    run(trigger.stop())
    trigger.bucket = unique_name("gone")  # as if the bucket was deleted under a running sink
    with pytest.raises(FatalSinkError) as info:
        run(write(trigger, [rec(0, doc_id="secret-id-123")]))
    assert trigger.bucket in str(info.value) and "secret-id-123" not in str(info.value)
    assert "secret-id-123" not in printable(info.value)  # the SDK's exception is not printed with it
    assert not any(isinstance(e, ClientError) for e in chain(info.value))


def test_a_message_sqs_refuses_goes_to_the_dlq_and_the_rest_is_sent(
    aws_settings: Any, s3_client: Any, sqs_client: Any
) -> None:
    """The queue takes at most 1 KiB: SendMessageBatch refuses the whole batch, the sink finds the
    one offending message by sending singly, reports it, and sends the others in order."""
    bucket, queue = unique_name("changes"), unique_name("small")
    s3_client.create_bucket(Bucket=bucket)
    url = sqs_client.create_queue(QueueName=queue, Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    spec = S3TriggerSpec(bucket=bucket, entities={"users": S3TriggerEntity(queue=queue)})
    sink = S3TriggerSink(spec, aws_settings, config=FAST)
    run(sink.start())
    records = [rec(0, entity="users"), rec(1, entity="users", doc_id="x" * 950), rec(2, entity="users")]
    batch = run(write(sink, records))
    run(sink.stop())
    assert [(f.record.offset, f.reason) for f in batch.failures] == [
        (1, "SQS rejected the message (InvalidParameterValue)")
    ]
    keys = [json.loads(m["Body"])["S3FilePartsOfJSONDocument"][0]["Key"] for m in drain(sqs_client, url)]
    assert keys == [f"prod/users/doc0000-{TS}", f"prod/users/doc0002-{TS + 2}"]


def test_a_failing_queue_holds_back_only_its_own_partitions(aws_settings: Any, sqs_client: Any) -> None:
    """users' messages went out, owners' queue vanished: the users marker moves, the owners one does
    not, so the retry after the fix sends the owners' messages and no second users message."""
    bucket, users_q, owners_q = unique_name("changes"), unique_name("users"), unique_name("owners")
    spec = S3TriggerSpec(
        bucket=bucket, entities={"users": S3TriggerEntity(queue=users_q), "owners": S3TriggerEntity(queue=owners_q)}
    )
    sink = S3TriggerSink(spec, aws_settings, create_missing=True, config=FAST)
    run(sink.start())
    sqs_client.delete_queue(QueueUrl=sink.queue_urls[owners_q])
    records = [rec(i, entity="users") for i in range(3)] + [rec(i, entity="owners") for i in range(3)]
    with pytest.raises(FatalSinkError, match=owners_q):
        run(write(sink, records))
    run(sink.stop())

    sqs_client.create_queue(QueueName=owners_q)  # the operator's fix
    restarted = S3TriggerSink(spec, aws_settings, config=FAST)
    run(restarted.start())
    run(write(restarted, records))
    run(restarted.stop())
    for queue, entity in ((users_q, "users"), (owners_q, "owners")):
        msgs = drain(sqs_client, sqs_client.get_queue_url(QueueName=queue)["QueueUrl"])
        assert sorted(json.loads(m["Body"])["S3FilePartsOfJSONDocument"][0]["Key"] for m in msgs) == [
            f"prod/{entity}/doc{i:04d}-{TS + i}" for i in range(3)
        ]


def test_moto_service_outage_restarts_on_the_same_port(moto_factory: Any) -> None:
    svc: MotoService = moto_factory()
    s3 = svc.client("s3", timeout=1, attempts=1)
    bucket = unique_name("outage")
    s3.create_bucket(Bucket=bucket)
    port = svc.port
    back = svc.outage(0.5)
    assert not svc.running
    with pytest.raises(Exception, match="Could not connect"):
        s3.head_bucket(Bucket=bucket)
    back.join(timeout=10)
    assert svc.running and svc.port == port
    s3.head_bucket(Bucket=bucket)  # state kept


def test_two_changes_of_one_document_in_one_millisecond_leave_the_later_one(
    moto_server: MotoService, aws_settings, s3_client
) -> None:
    """Same key within one batch: the later change's bytes win (puts run in parallel)."""
    bucket = unique_name("same-ms")
    s3_client.create_bucket(Bucket=bucket)
    spec = S3TriggerSpec(bucket=bucket, env="prod/", entities={"users": S3TriggerEntity(collection="users")})
    sink = S3TriggerSink(spec, aws_settings)
    versions = [{"_id": "a", "n": i, "pad": "x" * (i * 37)} for i in range(40)]
    records = [
        record_from_message(
            "t.events.users",
            0,
            i,
            dumps({"_id": "a"}),
            dumps(
                {"entity": "users", "op": "update", "key": {"_id": "a"}, "position": [i], "ts_ms": 1000, "after": doc}
            ),
        )
        for i, doc in enumerate(versions)
    ]

    async def go() -> None:
        await sink.start()
        try:
            await sink.write(SinkBatch(records))
        finally:
            await sink.stop()

    asyncio.run(go())
    body = s3_client.get_object(Bucket=bucket, Key="prod/users/a-1000")["Body"].read()
    assert json.loads(body) == versions[-1]


class FakeS3RefusesDeletes:
    """A real S3 client whose DeleteObjects answers 200 with an AccessDenied error for every key."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def delete_objects(self, **kw: Any) -> dict:
        return {"Errors": [{"Key": o["Key"], "Code": "AccessDenied"} for o in kw["Delete"]["Objects"]]}


def test_archive_delete_with_per_key_errors_is_retried_not_ignored(moto_server: MotoService) -> None:
    """DeleteObjects answers 200 with per-key errors; a stale object left behind would hold records
    twice, so the write must fail (and be retried) rather than clear the marker's pending keys."""
    s3 = FakeS3RefusesDeletes(moto_server.client("s3"))
    spec = S3ArchiveSpec(bucket=unique_name("lake"))
    sink = S3ArchiveSink(spec, moto_server.aws_settings(), create_missing=True, config=FAST, clients={"s3": s3})
    run(sink.start())
    marker_key = archive_marker_key(spec.prefix, "streamproc.events.reservations", 0)
    s3.put_object(Bucket=spec.bucket, Key=marker_key, Body=Marker(-1, ("archive/stale.avro",)).encode())
    with pytest.raises(RetriableSinkError, match="1 keys not deleted \\(AccessDenied\\)"):
        run(write(sink, [rec(0)]))
    run(sink.stop())


def test_parity_with_config_classifies_the_same_on_s3_and_on_a_synced_copy(s3_client: Any, tmp_path: Path) -> None:
    """--config over moto: the trigger's raw document run through the pipeline matches the shadow's
    redacted one, a rejected one is dlq-by-rule; a local copy of both trees (as aws s3 sync writes
    it) gives the same report."""
    import textwrap

    from streamproc.config.loader import load_pipelines
    from streamproc.config.settings import Settings
    from streamproc.runtime.parity_pipeline import parity_pipeline

    settings = Settings(redaction={"key": "k" * 40})
    config = tmp_path / "pipelines.yaml"
    config.write_text(
        textwrap.dedent(
            """
            version: 1
            sources:
              - entity: members
                topic: cdc.app.members
                key: [_id]
                on_invalid: emit
                validate:
                  - {field: email, type: string, pattern: '@'}
                  - {field: tenant, required: true, type: string, severity: error}
                redact:
                  - {path: email, mode: PARTIAL_MASK}
            """
        )
    )
    clean = parity_pipeline(settings, load_pipelines(config), "members")
    bucket = unique_name("paritycfg")
    s3_client.create_bucket(Bucket=bucket)
    objects: dict[str, bytes] = {}
    for i in range(4):
        raw = {"_id": f"m{i}", "email": f"person{i}@example.com", "tenant": "t", "n": {"$numberLong": str(i)}}
        objects[f"prod/members/m{i}-{TS}"] = js_json(raw)
        objects[f"dev/members/m{i}-{TS}"] = js_json({**clean({**raw, "n": i}).doc})
    objects[f"prod/members/bad-{TS}"] = js_json({"_id": "bad", "email": "x@y"})  # no tenant: to the DLQ
    for key, body in objects.items():
        s3_client.put_object(Bucket=bucket, Key=key, Body=body)
        (tmp_path / "sync" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "sync" / key).write_bytes(body)

    reports = []
    for left, right in (
        (f"s3://{bucket}/prod/members", f"s3://{bucket}/dev/members"),
        (str(tmp_path / "sync" / "prod" / "members"), str(tmp_path / "sync" / "dev" / "members")),
    ):
        out, err = io.StringIO(), io.StringIO()
        code = run_parity(
            left, right, None, 75.0, True, out, s3_client, err=err, config=config, explain=2, settings=settings
        )
        assert code == 1, err.getvalue()  # 4 of 5 are numeric-representation: no match without --numeric-equal
        reports.append(json.loads(out.getvalue()))
    s3r, local = reports
    assert s3r["classes"]["numeric-representation"] == 4 and s3r["classes"]["dlq-by-rule"] == 1
    assert s3r["rules"] == {"tenant": 1} and s3r["examples"]["dlq-by-rule"] == [
        {"key": f"prod/members/bad-{TS}", "rule": "tenant"}
    ]
    assert local["examples"]["dlq-by-rule"] == [{"key": f"bad-{TS}", "rule": "tenant"}]
    for k in ("classes", "rules", "pairs", "matches", "match_rate", "pipeline"):
        assert s3r[k] == local[k], k
    out = io.StringIO()
    left, right = f"s3://{bucket}/prod/members", f"s3://{bucket}/dev/members"
    assert (
        run_parity(left, right, None, 75.0, True, out, s3_client, config=config, numeric_equal=True, settings=settings)
        == 0
    )
    assert "example.com" not in out.getvalue()
