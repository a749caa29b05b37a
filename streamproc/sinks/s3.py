"""The S3 (+SQS) sinks: boto3 I/O around the pure layouts of ``s3_layout`` and ``archive_format``.

* :class:`S3TriggerSink` (role ``s3``): one object per change (parts above ``max_part_bytes``),
  then one SQS message per change listing its parts — what the Atlas triggers produced.
* :class:`S3ArchiveSink` (role ``s3-archive``): batched Avro / gzip JSON Lines objects per entity
  and event hour.

Both keep a small progress marker per (topic, partition) in the bucket and skip records at or
below it, so a redelivered batch sends no second SQS message and writes no second object.
Constructing a sink opens no connection; :meth:`start` connects and checks the bucket (and
queues). Blocking SDK calls run on the sink's own thread pool.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from streamproc.errors import (
    FatalSinkError,
    RetriableSinkError,
    SinkBackpressure,
    SinkError,
)
from streamproc.settings import AwsSettings
from streamproc.sinks.archive_format import ArchiveObject, archive_actions, plan_archive
from streamproc.sinks.base import Sink, SinkBatch, SinkRecord
from streamproc.sinks.s3_layout import (
    SQS_MAX_BYTES,
    Marker,
    Rejected,
    S3ArchiveSpec,
    S3TriggerSpec,
    Skipped,
    TriggerObject,
    archive_marker_key,
    is_fifo,
    plan_trigger,
    trigger_actions,
    trigger_marker_key,
)

__all__ = ["S3TriggerSink", "S3ArchiveSink", "boto_config", "make_client", "classify_error"]

log = logging.getLogger("streamproc.sink.s3")

_THROTTLED = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequestsException",
    "RequestLimitExceeded", "ThrottledException", "AWS.SimpleQueueService.RequestThrottled",
}
_DENIED = {
    "AccessDenied", "AccessDeniedException", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
    "InvalidClientTokenId", "UnrecognizedClientException", "AuthFailure", "InvalidToken", "AllAccessDisabled",
    "MissingAuthenticationToken", "InvalidSecurity",
}
_NO_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"}
_NO_KEY = {"NoSuchKey", "404"}
_SEVERITY = (FatalSinkError, SinkBackpressure, RetriableSinkError)


def boto_config(
    connect_timeout: float = 5.0, read_timeout: float = 30.0, max_attempts: int = 3, pool: int = 16
) -> Config:
    """Client settings: bounded timeouts and botocore's standard retry mode (the runner retries on top)."""
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"max_attempts": max_attempts, "mode": "standard"},
        max_pool_connections=pool,
    )


def make_client(service: str, aws: AwsSettings, config: Config | None = None) -> Any:
    """A boto3 client from :class:`AwsSettings` (endpoint, region, credentials). No network I/O."""
    session = boto3.session.Session(
        aws_access_key_id=aws.access_key_id.get_secret_value() if aws.access_key_id else None,
        aws_secret_access_key=aws.secret_access_key.get_secret_value() if aws.secret_access_key else None,
        region_name=aws.region,
    )
    cfg = config or boto_config()
    if aws.endpoint_url and service == "s3":  # moto, LocalStack, MinIO: no bucket subdomains
        cfg = cfg.merge(Config(s3={"addressing_style": "path"}))
    return session.client(service, endpoint_url=aws.endpoint_url, config=cfg)


def _code_status(exc: ClientError) -> tuple[str, int]:
    err = exc.response.get("Error") or {}
    meta = exc.response.get("ResponseMetadata") or {}
    return str(err.get("Code") or ""), int(meta.get("HTTPStatusCode") or 0)


def classify_error(exc: Exception, action: str, *, bucket: str | None = None, queue: str | None = None) -> SinkError | None:
    """The :class:`SinkError` an SDK failure means (its ``__cause__`` is ``exc``), or ``None``: a
    permanent failure of this one request (a per-record failure). Messages name the action, the
    bucket or queue and the AWS error code only — never an object key, which holds a document id."""
    err = _classify(exc, action, bucket, queue)
    if err is not None:
        err.__cause__ = exc
    return err


def _classify(exc: Exception, action: str, bucket: str | None, queue: str | None) -> SinkError | None:
    if isinstance(exc, ClientError):
        code, status = _code_status(exc)
        what = code or str(status)
        if code in _THROTTLED or status == 429:
            return SinkBackpressure(f"{action}: throttled by AWS ({what})", retry_after=1.0)
        if code == "NoSuchBucket" or (bucket and status == 404 and action.startswith("HeadBucket")):
            return FatalSinkError(f"S3 bucket '{bucket}' does not exist ({action}); create it or fix sinks.*.bucket")
        if code in _NO_QUEUE:
            return FatalSinkError(f"SQS queue '{queue}' does not exist ({action}); create it or fix the entity's queue")
        if code in _DENIED or status in (401, 403):
            target = f"bucket '{bucket}'" if bucket else f"queue '{queue}'" if queue else "AWS"
            return FatalSinkError(f"{action}: access to {target} denied ({what}); check credentials and IAM policy")
        if status >= 500 or status == 0:
            return RetriableSinkError(f"{action}: AWS answered {what}")
        return None
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return FatalSinkError(
            f"{action}: no AWS credentials (set STREAMPROC_AWS__ACCESS_KEY_ID/SECRET_ACCESS_KEY or the default chain)"
        )
    if isinstance(exc, ParamValidationError):
        return None
    if isinstance(exc, (BotoConnectionError, HTTPClientError, BotoCoreError)):
        return RetriableSinkError(f"{action}: cannot reach AWS ({type(exc).__name__})")
    return None


def _worst(errors: Iterable[SinkError]) -> SinkError | None:
    errs = list(errors)
    for cls in _SEVERITY:
        for e in errs:
            if isinstance(e, cls):
                return e
    return errs[0] if errs else None


def _fail_once(batch: SinkBatch, record: SinkRecord, reason: str, error_class: str = "permanent") -> None:
    if not any(f.record is record for f in batch.failures):
        batch.fail(record, reason, error_class)


def _partitions(records: Iterable[SinkRecord]) -> dict[tuple[str, int], int]:
    """(topic, partition) → highest offset among ``records``."""
    out: dict[tuple[str, int], int] = {}
    for r in records:
        tp = (r.topic, r.partition)
        if r.offset > out.get(tp, -1):
            out[tp] = r.offset
    return out


class _AwsSink(Sink):
    """Shared plumbing: lazy clients, a private thread pool, bucket checks, progress markers."""

    bucket: str

    def __init__(self, aws: AwsSettings, *, create_missing: bool, config: Config | None, concurrency: int) -> None:
        self.aws = aws
        self.create_missing = create_missing
        self.config = config or boto_config(pool=concurrency)
        self.concurrency = concurrency
        self._clients: dict[str, Any] = {}
        self._pool: ThreadPoolExecutor | None = None

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = make_client(service, self.aws, self.config)
        return self._clients[service]

    async def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"streamproc-{self.name}")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, True)
        for c in self._clients.values():
            close = getattr(c, "close", None)
            if close is not None:
                close()
        self._clients.clear()

    async def check_bucket(self) -> None:
        s3 = await self.call(self.client, "s3")  # building a client reads SDK models: not on the loop
        try:
            await self.call(s3.head_bucket, Bucket=self.bucket)
            return
        except Exception as exc:
            err = classify_error(exc, "HeadBucket", bucket=self.bucket)
            missing = isinstance(exc, ClientError) and _code_status(exc)[1] == 404
            if not (missing and self.create_missing):
                raise (err or FatalSinkError(f"HeadBucket of '{self.bucket}' failed")) from exc
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.aws.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.aws.region}
        try:
            await self.call(s3.create_bucket, **kwargs)
        except Exception as exc:
            raise (classify_error(exc, "CreateBucket", bucket=self.bucket)
                   or FatalSinkError(f"cannot create bucket '{self.bucket}'")) from exc
        log.info("%s: created bucket %s", self.name, self.bucket)

    async def read_marker(self, key: str) -> Marker:
        s3 = self.client("s3")
        try:
            resp = await self.call(s3.get_object, Bucket=self.bucket, Key=key)
            data = await self.call(resp["Body"].read)
        except ClientError as exc:
            if _code_status(exc)[0] in _NO_KEY:
                return Marker()
            raise (classify_error(exc, "GetObject(marker)", bucket=self.bucket)
                   or RetriableSinkError("GetObject(marker) failed")) from exc
        except Exception as exc:
            raise (classify_error(exc, "GetObject(marker)", bucket=self.bucket)
                   or RetriableSinkError("GetObject(marker) failed")) from exc
        try:
            return Marker.decode(data)
        except ValueError as exc:
            raise FatalSinkError(f"progress marker s3://{self.bucket}/{key} is corrupt; delete it to reset") from exc

    async def write_marker(self, key: str, marker: Marker) -> None:
        s3 = self.client("s3")
        try:
            await self.call(s3.put_object, Bucket=self.bucket, Key=key, Body=marker.encode(),
                            ContentType="application/json")
        except Exception as exc:
            raise (classify_error(exc, "PutObject(marker)", bucket=self.bucket)
                   or RetriableSinkError("PutObject(marker) failed")) from exc

    async def read_markers(self, tps: Iterable[tuple[str, int]], key_of: Callable[[str, int], str]) -> dict[tuple[str, int], Marker]:
        tps = list(tps)
        found = await asyncio.gather(*(self.read_marker(key_of(t, p)) for t, p in tps), return_exceptions=True)
        errors = [e for e in found if isinstance(e, BaseException)]
        if errors:
            raise _worst(e for e in errors if isinstance(e, SinkError)) or errors[0]
        return dict(zip(tps, found))  # type: ignore[arg-type]

    async def put_many(self, items: list[tuple[str, bytes, str]]) -> list[SinkError | None | bool]:
        """PutObject each (key, body, content type); per item True, a SinkError, or None (permanent)."""
        s3 = self.client("s3")

        async def one(key: str, body: bytes, ctype: str) -> SinkError | None | bool:
            try:
                await self.call(s3.put_object, Bucket=self.bucket, Key=key, Body=body, ContentType=ctype)
                return True
            except Exception as exc:
                return classify_error(exc, "PutObject", bucket=self.bucket)

        return list(await asyncio.gather(*(one(*i) for i in items)))


class S3TriggerSink(_AwsSink):
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
    ) -> None:
        super().__init__(aws, create_missing=create_missing, config=config, concurrency=concurrency)
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
        except Exception as exc:
            err = classify_error(exc, "GetQueueUrl", queue=queue)
            missing = isinstance(exc, ClientError) and _code_status(exc)[0] in _NO_QUEUE
            if not (missing and self.create_missing):
                raise (err or FatalSinkError(f"SQS queue '{queue}' cannot be resolved")) from exc
        name = queue.rstrip("/").rsplit("/", 1)[-1]
        attrs = {"FifoQueue": "true"} if is_fifo(name) else {}
        try:
            url = (await self.call(sqs.create_queue, QueueName=name, Attributes=attrs))["QueueUrl"]
        except Exception as exc:
            raise (classify_error(exc, "CreateQueue", queue=queue)
                   or FatalSinkError(f"cannot create SQS queue '{queue}'")) from exc
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
        items = await self.call(self._plan_all, records)
        markers = await self.read_markers(_partitions(records), self._marker_key)
        todo: list[TriggerObject] = []
        done: set[int] = set()  # id(record) of records finished without a failure
        for item in items:
            r = item.record
            if isinstance(item, Skipped) or r.offset <= markers[(r.topic, r.partition)].offset:
                done.add(id(r))
            elif isinstance(item, Rejected):
                _fail_once(batch, r, item.reason, item.error_class)
            else:
                todo.append(item)

        stored = await self._put_objects(batch, todo, done)
        error = await self._send_messages(batch, stored, done)
        await self._advance_markers(records, markers, done, complete=error is None)
        if error is not None:
            raise error
        log.debug("%s: %d changes stored, %d skipped", self.name, len(todo), len(records) - len(todo))

    async def _put_objects(self, batch: SinkBatch, todo: list[TriggerObject], done: set[int]) -> list[TriggerObject]:
        flat = [(item, key, body) for item in todo for key, body in item.parts]
        results = await self.put_many([(k, b, "application/json") for _, k, b in flat])
        errors = [r for r in results if isinstance(r, SinkError)]
        if errors:
            raise _worst(errors)  # type: ignore[misc]
        rejected: set[int] = set()
        for (item, _, _), res in zip(flat, results):
            if res is None and id(item.record) not in rejected:
                rejected.add(id(item.record))
                _fail_once(batch, item.record, f"S3 rejected an object of entity '{item.record.entity}'")
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
        return _worst(e for e in results if e is not None)

    async def _send_queue(self, batch: SinkBatch, queue: str, items: list[TriggerObject], done: set[int]) -> SinkError | None:
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
        except Exception as exc:
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
                _fail_once(batch, item.record, f"SQS rejected the message ({bad.get('Code', 'unknown')})")
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
            except Exception as exc:
                err = classify_error(exc, "SendMessage", queue=queue)
                if err is not None:
                    return [], err
                code = _code_status(exc)[0] if isinstance(exc, ClientError) else type(exc).__name__
                _fail_once(batch, item.record, f"SQS rejected the message ({code})")
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
        found = await asyncio.gather(*writes, return_exceptions=True)
        errors = [e for e in found if isinstance(e, BaseException)]
        if errors and complete:
            raise _worst(e for e in errors if isinstance(e, SinkError)) or errors[0]


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


class S3ArchiveSink(_AwsSink):
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
    ) -> None:
        super().__init__(aws, create_missing=create_missing, config=config, concurrency=concurrency)
        self.spec = spec
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
        highest = _partitions(records)
        markers = await self.read_markers(highest, self._marker_key)
        fresh = [r for r in records if r.offset > markers[(r.topic, r.partition)].offset]
        objects, rejected = await self.call(plan_archive, self.spec, fresh)
        for rej in rejected:
            _fail_once(batch, rej.record, rej.reason, rej.error_class)

        new_keys: dict[tuple[str, int], set[str]] = {tp: set() for tp in highest}
        for o in objects:
            new_keys[(o.topic, o.partition)].add(o.key)
        intents = [
            self.write_marker(self._marker_key(*tp), Marker(m.offset, tuple(sorted(set(m.pending) | new_keys[tp]))))
            for tp, m in markers.items()
            if new_keys[tp] - set(m.pending)
        ]
        await _all(intents)

        results = await self.put_many([(o.key, o.body, _content_type(self.spec.format)) for o in objects])
        errors = [r for r in results if isinstance(r, SinkError)]
        if errors:
            raise _worst(errors)  # type: ignore[misc]
        self._fail_rejected_objects(batch, fresh, objects, results)

        stale = sorted(k for tp, m in markers.items() for k in set(m.pending) - new_keys[tp])
        await self._delete(stale)
        finals = [
            self.write_marker(self._marker_key(*tp), Marker(max(highest[tp], m.offset)))
            for tp, m in markers.items()
            if highest[tp] > m.offset or m.pending or new_keys[tp]
        ]
        await _all(finals)
        log.debug("%s: %d objects from %d records", self.name, len(objects), len(fresh))

    def _fail_rejected_objects(
        self, batch: SinkBatch, fresh: list[SinkRecord], objects: list[ArchiveObject], results: list[Any]
    ) -> None:
        bad = [o for o, res in zip(objects, results) if res is None]
        for o in bad:
            wanted = set(o.offsets)
            for r in fresh:
                if r.entity == o.entity and (r.topic, r.partition) == (o.topic, o.partition) and r.offset in wanted:
                    _fail_once(batch, r, f"S3 rejected an archive object of entity '{o.entity}'")

    async def _delete(self, keys: list[str]) -> None:
        s3 = self.client("s3")
        for i in range(0, len(keys), 1000):
            objs = [{"Key": k} for k in keys[i : i + 1000]]
            try:
                await self.call(s3.delete_objects, Bucket=self.bucket, Delete={"Objects": objs, "Quiet": True})
            except Exception as exc:
                raise (classify_error(exc, "DeleteObjects", bucket=self.bucket)
                       or RetriableSinkError("DeleteObjects failed")) from exc


def _content_type(fmt: str) -> str:
    return "application/avro" if fmt == "avro" else "application/gzip"


async def _all(coros: list[Any]) -> None:
    found = await asyncio.gather(*coros, return_exceptions=True)
    errors = [e for e in found if isinstance(e, BaseException)]
    if errors:
        raise _worst(e for e in errors if isinstance(e, SinkError)) or errors[0]
