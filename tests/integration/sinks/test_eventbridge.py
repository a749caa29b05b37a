"""The EventBridge sink against moto in server mode (real HTTP APIs): a bus with a rule selecting
``user.*`` into one SQS queue and a rule selecting everything into another; what arrives in each
queue is exactly what should, with the right detail. Per-entry failures, oversize entries (DLQ and
S3 pointer) and a whole-endpoint outage are covered too."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from streamproc.config.settings import SinkRuntimeSettings
from streamproc.config.sink_eventbridge import EventBridgeSpec, PointerSpec
from streamproc.errors import FatalSinkError
from streamproc.runtime.metrics import SinkMetrics
from streamproc.sinks.base import SinkBatch, SinkRecord
from streamproc.sinks.eventbridge.plan import MAX_ENTRY_BYTES, event_id
from streamproc.sinks.eventbridge.sink import EventBridgeSink
from streamproc.sinks.runner import SinkRunner
from streamproc.sinks.s3.aws import boto_config
from tests.services.moto import MotoService, unique_name

TS = 1_767_225_600_123
FAST = boto_config(connect_timeout=1, read_timeout=3, max_attempts=1)


def rec(offset: int, entity: str = "users", op: str = "insert", **kw: Any) -> SinkRecord:
    singular = entity.removesuffix("s")
    before = kw.pop("before", None)
    doc = kw.pop("doc", {"_id": f"{singular}{offset}", "name": f"N{offset}", "address": {"city": "Oslo"}})
    return SinkRecord(
        topic=f"streamproc.events.{entity}",
        partition=0,
        offset=offset,
        entity=entity,
        op=op,
        event_type=f"{singular}.{ {'insert': 'created', 'update': 'updated', 'delete': 'deleted'}[op] }",
        namespace=f"app.{entity}",
        key={"_id": f"{singular}{offset}"},
        position=(TS // 1000, offset),
        ts_ms=TS + offset,
        doc=None if op == "delete" else doc,
        before=before,
        complete=True,
        timestamp_ms=TS + 5_000 + offset,
    )


def drain(sqs: Any, url: str, expect: int | None = None, timeout: float = 20.0) -> list[dict]:
    """Every message in the queue (received and deleted); waits up to ``timeout`` for ``expect``."""
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if not msgs and (expect is None or len(out) >= expect or time.monotonic() > deadline):
            return out


@pytest.fixture
def bus(moto_server: MotoService) -> dict[str, Any]:
    """A fresh bus; rule ``users`` (detail-type prefix ``user.``) → queue A, rule ``all`` → queue B."""
    events, sqs = moto_server.client("events"), moto_server.client("sqs")
    name = unique_name("bus")
    events.create_event_bus(Name=name)
    queues = {}
    for rule, pattern in (
        ("users", {"detail-type": [{"prefix": "user."}]}),
        ("all", {"source": [{"prefix": ""}]}),
    ):
        url = sqs.create_queue(QueueName=unique_name(f"eb-{rule}"))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=f"{name}-{rule}", EventBusName=name, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=f"{name}-{rule}", EventBusName=name, Targets=[{"Id": "q", "Arn": arn}])
        queues[rule] = url
    return {"name": name, "queues": queues, "sqs": sqs}


def make(moto: MotoService, bus: str, **kw: Any) -> EventBridgeSink:
    spec = EventBridgeSpec(entities=["users", "owners"], bus=bus, source_prefix="coredb", **kw)
    return EventBridgeSink(spec, moto.aws_settings(), config=FAST, create_missing=True, entry_retry_initial=0.01)


async def write(sink: EventBridgeSink, records: list[SinkRecord]) -> SinkBatch:
    batch = SinkBatch(records)
    await sink.write(batch)
    return batch


def test_rules_route_entries_with_the_right_detail(moto_server: MotoService, bus: dict[str, Any]) -> None:
    sink = make(moto_server, bus["name"])
    records = [rec(i) for i in range(12)] + [rec(20 + i, "owners") for i in range(3)] + [rec(40, "reservations")]
    records.append(rec(30, op="update", before={"_id": "user30", "name": "Old", "address": {"city": "Oslo"}}))

    async def go() -> SinkBatch:
        await sink.start()
        try:
            return await write(sink, records)
        finally:
            await sink.stop()

    batch = asyncio.run(go())
    assert batch.failures == []
    users = drain(bus["sqs"], bus["queues"]["users"], expect=13)
    everything = drain(bus["sqs"], bus["queues"]["all"], expect=16)
    assert sorted(e["detail"]["eventId"] for e in users) == sorted(event_id(r) for r in records if r.entity == "users")
    assert sorted(e["detail"]["eventId"] for e in everything) == sorted(
        event_id(r) for r in records if r.entity != "reservations"
    )
    assert {e["source"] for e in everything} == {"coredb.users", "coredb.owners"}
    assert all(e["detail-type"].startswith("user.") for e in users)
    update = next(e for e in users if e["detail"]["operation"] == "UPDATE")
    assert update["detail-type"] == "user.updated"
    assert update["detail"] == {
        "eventId": event_id(records[-1]),
        "eventType": "user.updated",
        "entityId": "user30",
        "entityType": "users",
        "operation": "UPDATE",
        "timestamp": "2026-01-01T00:00:00.153Z",
        "changes": {"name": {"old": "Old", "new": "N30"}},
        "metadata": {
            "sourceTable": "app.users",
            "sequenceNumber": [TS // 1000, 30],
            "processedAt": "2026-01-01T00:00:05.153Z",
            "version": "1.0",
        },
    }
    insert = next(e for e in users if e["detail"]["entityId"] == "user0")
    assert insert["detail"]["changes"] == {
        "_id": {"old": None, "new": "user0"},
        "name": {"old": None, "new": "N0"},
        "address.city": {"old": None, "new": "Oslo"},
    }
    assert insert["time"] == "2026-01-01T00:00:00Z"  # the source change time (EventBridge keeps seconds)


def test_oversize_entries_go_to_the_dlq_or_through_an_s3_pointer(moto_server: MotoService, bus: dict[str, Any]) -> None:
    big = rec(1, doc={"_id": "user1", "blob": "x" * MAX_ENTRY_BYTES})
    small = rec(2)
    lake = unique_name("pointers")

    async def go(sink: EventBridgeSink) -> SinkBatch:
        await sink.start()
        try:
            return await write(sink, [big, small])
        finally:
            await sink.stop()

    dlq_batch = asyncio.run(go(make(moto_server, bus["name"])))
    assert [(f.record.offset, f.error_class) for f in dlq_batch.failures] == [(1, "permanent")]
    assert "above the PutEvents limit" in dlq_batch.failures[0].reason and "x" not in dlq_batch.failures[0].reason
    assert [e["detail"]["entityId"] for e in drain(bus["sqs"], bus["queues"]["users"], expect=1)] == ["user2"]

    pointer = make(moto_server, bus["name"], oversize="s3-pointer", pointer=PointerSpec(bucket=lake, prefix="big"))
    batch = asyncio.run(go(pointer))
    assert batch.failures == []
    got = {e["detail"]["entityId"]: e["detail"] for e in drain(bus["sqs"], bus["queues"]["users"], expect=2)}
    assert set(got) == {"user1", "user2"}
    ref = got["user1"]["detailPointer"]
    assert "changes" not in got["user1"] and ref["bucket"] == lake
    assert ref["key"] == f"big/users/{event_id(big)}.json"
    stored = moto_server.client("s3").get_object(Bucket=lake, Key=ref["key"])["Body"].read()
    assert len(stored) == ref["bytes"]
    assert json.loads(stored)["changes"]["blob"]["new"] == "x" * MAX_ENTRY_BYTES


def test_a_missing_bus_is_fatal_without_create_missing(moto_server: MotoService) -> None:
    spec = EventBridgeSpec(entities=["users"], bus=unique_name("nobus"))
    sink = EventBridgeSink(spec, moto_server.aws_settings(), config=FAST)
    with pytest.raises(FatalSinkError, match="DescribeEventBus"):
        asyncio.run(sink.start())
    asyncio.run(sink.stop())


def test_an_outage_holds_the_batch_and_loses_nothing(moto_factory: Any, bus: dict[str, Any]) -> None:
    """A private moto server (same state as the shared one) goes down mid-stream; the runner holds
    the batch, retrying, and delivers it when the server is back: every entry once."""
    svc: MotoService = moto_factory()
    sink = make(svc, bus["name"])
    metrics = SinkMetrics()
    conf = SinkRuntimeSettings(retry_initial=0.2, retry_max=1.0, breaker_failures=3, breaker_reset=1.0)
    runner = SinkRunner(sink, conf, metrics, dead_letter=lambda f, s: pytest.fail(f"DLQ: {f.reason}"))
    first, second = [rec(i) for i in range(5)], [rec(10 + i) for i in range(5)]

    async def go() -> None:
        assert await runner.deliver(first) == 5
        outage = svc.outage(3)
        assert await runner.deliver(second) == 5
        await asyncio.to_thread(outage.join)
        await runner.stop()

    asyncio.run(go())
    retries = metrics.retries.labels("eventbridge", "transient")._value.get()
    assert retries >= 1  # the outage happened: the second batch failed at least once
    got = drain(bus["sqs"], bus["queues"]["users"], expect=10)
    assert sorted(e["detail"]["eventId"] for e in got) == sorted(event_id(r) for r in first + second)
