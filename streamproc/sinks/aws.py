"""AWS plumbing shared by the S3 (+SQS) sinks: boto3 clients, error classification, the base sink.

* :func:`boto_config` / :func:`make_client`: clients with bounded timeouts from
  :class:`AwsSettings`; building one does no network I/O.
* :func:`classify_error`: the :class:`SinkError` an SDK failure means, or ``None`` for a permanent
  failure of one request.
* ``_AwsSink``: the base of ``S3TriggerSink`` (``s3.py``) and ``S3ArchiveSink`` (``s3_archive.py``)
  — lazy clients, a private thread pool for the blocking SDK calls, the bucket check of
  ``start()`` and the I/O of the progress markers (their format is in ``s3_markers.py``).
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
from streamproc.sinks.base import Sink, SinkBatch, SinkRecord
from streamproc.sinks.s3_markers import Marker

__all__ = ["boto_config", "make_client", "classify_error"]

log = logging.getLogger("streamproc.sink.s3")
# botocore logs request and response bodies at DEBUG: payloads. Never below WARNING here.
for _name in ("botocore", "boto3", "urllib3", "s3transfer"):
    logging.getLogger(_name).setLevel(logging.WARNING)

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
