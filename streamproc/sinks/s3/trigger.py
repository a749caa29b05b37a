"""The trigger-compatible S3 (+SQS) sink: boto3 I/O around the pure layout of ``layout.py``.

:class:`S3TriggerSink` (role ``s3``) writes one object per change (parts above
``max_part_bytes``), then one SQS message per change listing its parts — what the Atlas triggers
produced. It keeps a small progress marker per (topic, partition) in the bucket and skips records
at or below it, so a redelivered batch sends no second SQS message and writes no second object.
Constructing the sink opens no connection; :meth:`start` connects and checks the bucket and
queues. Blocking SDK calls run on the sink's own thread pool. Clients and the marker I/O come
from ``aws.py``, error classification from ``errors.py``; the archive sink is in ``archive.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import ClientError

from streamproc.errors import FatalSinkError, RetriableSinkError, SinkError
from streamproc.sinks.base import SinkBatch, SinkRecord
from streamproc.sinks.s3.aws import AwsSink, fail_once, highest_offsets
from streamproc.sinks.s3.errors import (
    NO_QUEUE_CODES,
    classify_error,
    code_status,
    gather_all,
    raise_for,
    worst_error,
)
from streamproc.sinks.s3.layout import (
    SQS_MAX_BYTES,
    Rejected,
    Skipped,
    TriggerObject,
    is_fifo,
    plan_trigger,
    trigger_actions,
)
from streamproc.sinks.s3.markers import Marker, trigger_marker_key

if TYPE_CHECKING:
    from streamproc.config.settings import AwsSettings
    from streamproc.config.sink_s3 import S3TriggerSpec

__all__ = ["S3TriggerSink"]

log = logging.getLogger("streamproc.sink.s3")


class S3TriggerSink(AwsSink):
    """Trigger-compatible objects and SQS messages (see the module docstring and docs/SINKS-S3.md)."""

    name = "s3"

    def __init__(
        self,
        spec: S3TriggerSpec,
        aws: AwsSettings,
        *,
        create_missing: bool = False,
        config: Config | None = None,
        concurrency: int = 16,
        sqs_retry_rounds: int = 3,
        clients: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(aws, create_missing=create_missing, config=config, concurrency=concurrency, clients=clients)
        self.spec = spec
        self.bucket = spec.bucket
        self.sqs_retry_rounds = sqs_retry_rounds
        self.queue_urls: dict[str, str] = {}

    def wants(self, record: SinkRecord) -> bool:
        return record.entity in self.spec.entities

    def plan(self, records: list[SinkRecord]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for r in records:
            if self.wants(r):
                out.extend(trigger_actions(self.spec, plan_trigger(self.spec, r)))
        return out

    async def start(self) -> None:
        await self.check_bucket()
        for q in self.spec.queues():
            self.queue_urls[q] = await self._resolve_queue(q)

    async def _resolve_queue(self, queue: str) -> str:
        sqs = await self.call(self.client, "sqs")
        is_url = queue.startswith(("http://", "https://"))
        try:
            if is_url:
                await self.call(sqs.get_queue_attributes, QueueUrl=queue, AttributeNames=["QueueArn"])
                return queue
            return (await self.call(sqs.get_queue_url, QueueName=queue))["QueueUrl"]
        except Exception as exc:  # noqa: BLE001 - raise_for re-raises anything that is not botocore's
            missing = isinstance(exc, ClientError) and code_status(exc)[0] in NO_QUEUE_CODES
            if not (missing and self.create_missing):
                raise_for(exc, "GetQueueUrl", FatalSinkError(f"SQS queue '{queue}' cannot be resolved"), queue=queue)
        name = queue.rstrip("/").rsplit("/", 1)[-1]
        attrs = {"FifoQueue": "true"} if is_fifo(name) else {}
        try:
            url = (await self.call(sqs.create_queue, QueueName=name, Attributes=attrs))["QueueUrl"]
        except Exception as exc:  # noqa: BLE001 - raise_for re-raises anything that is not botocore's
            raise_for(exc, "CreateQueue", FatalSinkError(f"cannot create SQS queue '{queue}'"), queue=queue)
        log.info("%s: created queue %s", self.name, name)
        return url

    def _plan_all(self, records: list[SinkRecord]) -> list[TriggerObject | Rejected | Skipped]:
        return [plan_trigger(self.spec, r) for r in records]

    def _marker_key(self, topic: str, partition: int) -> str:
        return trigger_marker_key(self.spec.env, topic, partition)

    async def write(self, batch: SinkBatch) -> None:
        records = [r for r in batch.records if self.wants(r)]
        if not records:
            return
        items, markers = await asyncio.gather(  # independent: plan on the pool while the markers load
            self.call(self._plan_all, records), self.read_markers(highest_offsets(records), self._marker_key)
        )
        todo: list[TriggerObject] = []
        done: set[int] = set()  # id(record) of records finished without a failure
        for item in items:
            r = item.record
            if isinstance(item, Skipped) or r.offset <= markers[(r.topic, r.partition)].offset:
                done.add(id(r))
            elif isinstance(item, Rejected):
                fail_once(batch, r, item.reason, item.error_class)
            else:
                todo.append(item)

        stored = await self._put_objects(batch, todo, done)
        error = await self._send_messages(batch, stored, done)
        await self._advance_markers(records, markers, done, complete=error is None)
        if error is not None:
            raise error
        log.debug("%s: %d changes stored, %d skipped", self.name, len(todo), len(records) - len(todo))

    async def _put_objects(self, batch: SinkBatch, todo: list[TriggerObject], done: set[int]) -> list[TriggerObject]:
        every = [(item, key, body) for item in todo for key, body in item.parts]
        # Changes of one document within one source millisecond share a key: only the last is put,
        # since parallel puts of one key would land in any order (the later change must win).
        last = {key: i for i, (_, key, _) in enumerate(every)}
        flat = [part for i, part in enumerate(every) if last[part[1]] == i]
        results = await self.put_many([(k, b, "application/json") for _, k, b in flat])
        errors = [r for r in results if isinstance(r, SinkError)]
        if errors:
            raise worst_error(errors)  # type: ignore[misc]
        rejected: set[int] = set()
        for (item, _, _), res in zip(flat, results, strict=True):
            if res is None and id(item.record) not in rejected:
                rejected.add(id(item.record))
                fail_once(batch, item.record, f"S3 rejected an object of entity '{item.record.entity}'")
        stored = [item for item in todo if id(item.record) not in rejected]
        for item in stored:
            if item.message is None:
                done.add(id(item.record))
        return stored

    async def _send_messages(self, batch: SinkBatch, stored: list[TriggerObject], done: set[int]) -> SinkError | None:
        per_queue: dict[str, list[TriggerObject]] = {}
        for item in stored:
            if item.message is not None:
                per_queue.setdefault(item.message.queue, []).append(item)
        results = await asyncio.gather(*(self._send_queue(batch, q, items, done) for q, items in per_queue.items()))
        return worst_error(e for e in results if e is not None)

    async def _send_queue(
        self, batch: SinkBatch, queue: str, items: list[TriggerObject], done: set[int]
    ) -> SinkError | None:
        """Send in order, 10 per SendMessageBatch; retry failed entries; stop at the first hard error."""
        url = self.queue_urls.get(queue)
        if url is None:
            return FatalSinkError(f"SQS queue '{queue}' was not resolved: start() was not called")
        for chunk in _message_chunks(items):
            pending = chunk
            for round_ in range(self.sqs_retry_rounds + 1):
                if round_:
                    await asyncio.sleep(0.1 * 2**round_)
                pending, error = await self._send_chunk(batch, url, queue, pending, done)
                if error is not None:
                    return error
                if not pending:
                    break
            if pending:
                return RetriableSinkError(f"SendMessageBatch to '{queue}': {len(pending)} entries kept failing")
        return None

    async def _send_chunk(
        self, batch: SinkBatch, url: str, queue: str, items: list[TriggerObject], done: set[int]
    ) -> tuple[list[TriggerObject], SinkError | None]:
        sqs = self.client("sqs")
        entries = [_entry(str(i), item) for i, item in enumerate(items)]
        try:
            resp = await self.call(sqs.send_message_batch, QueueUrl=url, Entries=entries)
        except Exception as exc:  # noqa: BLE001 - classify_error re-raises anything that is not botocore's
            err = classify_error(exc, "SendMessageBatch", queue=queue)
            if err is not None:
                return items, err
            return await self._send_singly(batch, url, queue, items, done)
        retry: list[TriggerObject] = []
        for ok in resp.get("Successful") or ():
            done.add(id(items[int(ok["Id"])].record))
        for bad in resp.get("Failed") or ():
            item = items[int(bad["Id"])]
            if bad.get("SenderFault"):
                fail_once(batch, item.record, f"SQS rejected the message ({bad.get('Code', 'unknown')})")
            else:
                retry.append(item)
        return retry, None

    async def _send_singly(
        self, batch: SinkBatch, url: str, queue: str, items: list[TriggerObject], done: set[int]
    ) -> tuple[list[TriggerObject], SinkError | None]:
        """A whole batch was refused as invalid: find the entry by sending one at a time."""
        sqs = self.client("sqs")
        for item in items:
            entry = _entry("0", item)
            entry.pop("Id")
            try:
                await self.call(sqs.send_message, QueueUrl=url, **entry)
            except Exception as exc:  # noqa: BLE001 - classify_error re-raises anything that is not botocore's
                err = classify_error(exc, "SendMessage", queue=queue)
                if err is not None:
                    return [], err
                code = code_status(exc)[0] if isinstance(exc, ClientError) else type(exc).__name__
                fail_once(batch, item.record, f"SQS rejected the message ({code})")
                continue
            done.add(id(item.record))
        return [], None

    async def _advance_markers(
        self, records: list[SinkRecord], markers: dict[tuple[str, int], Marker], done: set[int], complete: bool
    ) -> None:
        """Complete batch: every partition's marker moves to its highest offset (failed records go to
        the DLQ once write() returns). Otherwise (best effort, before the error is raised) only over
        each partition's leading records that finished without failure, so a retry re-sends what is
        missing and re-reports the failures the runner discarded with the failed attempt."""
        targets: dict[tuple[str, int], int] = {}
        for tp, recs in _by_partition(records).items():
            last = markers[tp].offset
            for r in recs:
                if not complete and id(r) not in done:
                    break
                last = max(last, r.offset)
            if last > markers[tp].offset:
                targets[tp] = last
        writes = [self.write_marker(self._marker_key(t, p), Marker(off)) for (t, p), off in targets.items()]
        try:
            await gather_all(writes)
        except SinkError:
            if complete:
                raise  # otherwise the caller raises the error that made the batch incomplete


def _by_partition(records: Iterable[SinkRecord]) -> dict[tuple[str, int], list[SinkRecord]]:
    out: dict[tuple[str, int], list[SinkRecord]] = {}
    for r in records:
        out.setdefault((r.topic, r.partition), []).append(r)
    for recs in out.values():
        recs.sort(key=lambda r: r.offset)
    return out


def _entry(entry_id: str, item: TriggerObject) -> dict[str, Any]:
    m = item.message
    assert m is not None
    entry: dict[str, Any] = {"Id": entry_id, "MessageBody": m.body}
    if m.group_id is not None:
        entry["MessageGroupId"] = m.group_id
    if m.dedup_id is not None:
        entry["MessageDeduplicationId"] = m.dedup_id
    return entry


def _message_chunks(items: list[TriggerObject]) -> Iterable[list[TriggerObject]]:
    """At most 10 entries and :data:`SQS_MAX_BYTES` of bodies per SendMessageBatch, in order."""
    chunk: list[TriggerObject] = []
    size = 0
    for item in items:
        n = len(item.message.body.encode()) if item.message else 0
        if chunk and (len(chunk) == 10 or size + n > SQS_MAX_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += n
    if chunk:
        yield chunk
