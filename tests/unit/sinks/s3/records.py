"""Records and sink configurations shared by the S3 sink tests."""

from __future__ import annotations

from streamproc.config.settings import AwsSettings
from streamproc.config.sink_s3 import S3ArchiveSpec, S3TriggerEntity, S3TriggerSpec
from streamproc.sinks.base import SinkRecord

TS = 1_700_000_000_123  # 2023-11-14T22:13:20.123Z

MICROS = 1_700_000_000_123_000  # a microsecond timestamp in ts_ms: year ~55800, inside 64 bits


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


def archive_spec(**kw) -> S3ArchiveSpec:
    return S3ArchiveSpec(bucket="lake", **kw)


#: An endpoint nothing listens on: a sink that touched the network would fail.
UNREACHABLE = AwsSettings(endpoint_url="http://127.0.0.1:9")
