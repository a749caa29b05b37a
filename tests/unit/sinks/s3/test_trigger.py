"""The trigger-compatible sink (``streamproc.sinks.s3.trigger``) without a network: its plan, and
its write over a fake S3 client (transient failures retried, refused objects to the DLQ,
progress markers)."""

from __future__ import annotations

import io

import pytest

from streamproc.sinks.base import SinkBatch
from streamproc.sinks.s3.js_json import js_json
from streamproc.sinks.s3.markers import Marker
from streamproc.sinks.s3.trigger import S3TriggerSink
from tests.unit.sinks.s3.aws_errors import client_error
from tests.unit.sinks.s3.records import TS, UNREACHABLE, rec, trigger_spec


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
    return S3TriggerSink(trigger_spec(queue=None), UNREACHABLE, clients={"s3": fake})


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
