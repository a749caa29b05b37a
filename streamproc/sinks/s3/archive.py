"""The archive S3 sink: batched Avro / gzip JSON Lines objects per entity and event hour.

:class:`S3ArchiveSink` is boto3 I/O around the pure encoding of
``archive_format``. It runs in the ``s3`` worker role, beside the trigger sink when both
sections are configured; its name ``s3-archive`` labels its metrics, logs and DLQ records. It
keeps a small progress marker per (topic, partition) in the bucket that also lists the object
keys a write is about to create, so a redelivered batch writes no second object and a crashed
larger batch leaves no stale object behind. Constructing the sink opens no connection;
:meth:`start` connects and checks the bucket. Clients and the marker I/O come from ``aws.py``,
error classification from ``errors.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.config import Config

from streamproc.errors import RetriableSinkError, SinkError
from streamproc.sinks.base import SinkBatch, SinkRecord
from streamproc.sinks.s3.archive_format import ArchiveObject, archive_actions, plan_archive
from streamproc.sinks.s3.aws import AwsSink, fail_once, highest_offsets
from streamproc.sinks.s3.errors import gather_all, raise_for, worst_error
from streamproc.sinks.s3.markers import Marker, archive_marker_key

if TYPE_CHECKING:
    from streamproc.config.settings import AwsSettings
    from streamproc.config.sink_s3 import S3ArchiveSpec

__all__ = ["S3ArchiveSink"]

log = logging.getLogger("streamproc.sink.s3")


class S3ArchiveSink(AwsSink):
    """Batched Avro or gzip JSON Lines objects per entity and event hour (see ``archive_format``)."""

    name = "s3-archive"

    def __init__(
        self,
        spec: S3ArchiveSpec,
        aws: AwsSettings,
        *,
        create_missing: bool = False,
        config: Config | None = None,
        concurrency: int = 8,
        clients: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(aws, create_missing=create_missing, config=config, concurrency=concurrency, clients=clients)
        self.spec = spec
        self.batch_limits = (spec.max_records, spec.max_seconds, spec.max_bytes)  # the archive's rotation
        self.bucket = spec.bucket

    def wants(self, record: SinkRecord) -> bool:
        return self.spec.wants(record.entity)

    def plan(self, records: list[SinkRecord]) -> list[dict[str, Any]]:
        objects, rejected = plan_archive(self.spec, [r for r in records if self.wants(r)])
        return archive_actions(self.spec, objects, rejected)

    async def start(self) -> None:
        await self.check_bucket()

    def _marker_key(self, topic: str, partition: int) -> str:
        return archive_marker_key(self.spec.prefix, topic, partition)

    async def write(self, batch: SinkBatch) -> None:
        records = [r for r in batch.records if self.wants(r)]
        if not records:
            return
        highest = highest_offsets(records)
        markers = await self.read_markers(highest, self._marker_key)
        fresh = [r for r in records if r.offset > markers[(r.topic, r.partition)].offset]
        objects, rejected = await self.call(plan_archive, self.spec, fresh)
        for rej in rejected:
            fail_once(batch, rej.record, rej.reason, rej.error_class)

        new_keys: dict[tuple[str, int], set[str]] = {tp: set() for tp in highest}
        for o in objects:
            new_keys[(o.topic, o.partition)].add(o.key)
        intents = [
            self.write_marker(self._marker_key(*tp), Marker(m.offset, tuple(sorted(set(m.pending) | new_keys[tp]))))
            for tp, m in markers.items()
            if new_keys[tp] - set(m.pending)
        ]
        await gather_all(intents)

        results = await self.put_many([(o.key, o.body, _content_type(self.spec.format)) for o in objects])
        errors = [r for r in results if isinstance(r, SinkError)]
        if errors:
            raise worst_error(errors)  # type: ignore[misc]
        self._fail_rejected_objects(batch, fresh, objects, results)

        stale = sorted(k for tp, m in markers.items() for k in set(m.pending) - new_keys[tp])
        await self._delete(stale)
        finals = [
            self.write_marker(self._marker_key(*tp), Marker(max(highest[tp], m.offset)))
            for tp, m in markers.items()
            if highest[tp] > m.offset or m.pending or new_keys[tp]
        ]
        await gather_all(finals)
        log.debug("%s: %d objects from %d records", self.name, len(objects), len(fresh))

    def _fail_rejected_objects(
        self,
        batch: SinkBatch,
        fresh: list[SinkRecord],
        objects: list[ArchiveObject],
        results: list[SinkError | None | bool],
    ) -> None:
        bad = [o for o, res in zip(objects, results, strict=True) if res is None]
        for o in bad:
            wanted = set(o.offsets)
            for r in fresh:
                if r.entity == o.entity and (r.topic, r.partition) == (o.topic, o.partition) and r.offset in wanted:
                    fail_once(batch, r, f"S3 rejected an archive object of entity '{o.entity}'")

    async def _delete(self, keys: list[str]) -> None:
        s3 = self.client("s3")
        for i in range(0, len(keys), 1000):
            objs = [{"Key": k} for k in keys[i : i + 1000]]
            try:
                resp = await self.call(s3.delete_objects, Bucket=self.bucket, Delete={"Objects": objs, "Quiet": True})
            except Exception as exc:  # noqa: BLE001 - raise_for re-raises anything that is not botocore's
                raise_for(exc, "DeleteObjects", RetriableSinkError("DeleteObjects failed"), bucket=self.bucket)
            # DeleteObjects answers 200 with per-key errors; a stale object left behind would hold
            # records twice, so the write is retried (deleting a missing key is no error).
            errors = resp.get("Errors") or []
            if errors:
                codes = sorted({str(e.get("Code")) for e in errors})
                raise RetriableSinkError(
                    f"DeleteObjects in bucket '{self.bucket}': {len(errors)} keys not deleted ({', '.join(codes)})"
                )


def _content_type(fmt: str) -> str:
    return "application/avro" if fmt == "avro" else "application/gzip"
