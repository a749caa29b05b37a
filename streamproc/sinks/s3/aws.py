"""AWS plumbing shared by the S3 (+SQS) sinks: boto3 clients, error classification, the base sink.

* :func:`boto_config` / :func:`make_client`: clients with bounded timeouts from
  :class:`AwsSettings`; building one does no network I/O.
* :func:`classify_error`: the :class:`SinkError` an SDK failure means, or ``None`` for a permanent
  failure of one request; any other exception (a bug) is re-raised.
* ``_AwsSink``: the base of ``S3TriggerSink`` (``s3.py``) and ``S3ArchiveSink`` (``s3_archive.py``)
  — lazy clients, a private thread pool for the blocking SDK calls, the bucket check of
  ``start()`` and the I/O of the progress markers (their format is in ``s3_markers.py``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn, TypeVar

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

from streamproc.config.settings import AwsSettings
from streamproc.errors import (
    FatalSinkError,
    RetriableSinkError,
    SinkBackpressure,
    SinkError,
)
from streamproc.sinks.base import Sink, SinkBatch, SinkRecord
from streamproc.sinks.s3.markers import Marker

__all__ = ["boto_config", "make_client", "classify_error"]

log = logging.getLogger("streamproc.sink.s3")
# botocore logs request and response bodies at DEBUG: payloads. Never below WARNING here.
for _name in ("botocore", "boto3", "urllib3", "s3transfer"):
    logging.getLogger(_name).setLevel(logging.WARNING)

# Error codes after botocore's own retries. botocore.retries.standard lists them privately
# (ThrottledRetryableChecker._THROTTLED_ERROR_CODES, TransientRetryableChecker._TRANSIENT_ERROR_CODES):
# copied here rather than read from private attributes. PriorRequestNotComplete is in both there;
# here it is transient.
_THROTTLED = {
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
    "KmsThrottled",  # SQS with SSE-KMS
}
_TRANSIENT = {
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "OperationAborted",  # S3: a conflicting operation on the bucket or object is in progress
}
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "AuthFailure",
    "InvalidToken",
    "AllAccessDisabled",
    "MissingAuthenticationToken",
    "InvalidSecurity",
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


def classify_error(
    exc: Exception, action: str, *, bucket: str | None = None, queue: str | None = None
) -> SinkError | None:
    """The :class:`SinkError` an SDK failure means (its ``__cause__`` is ``exc``), or ``None``: a
    permanent failure of this one request (a per-record failure) — only for an HTTP 4xx
    ``ClientError`` not known as throttling, transient, missing or denied, and for botocore's
    ``ParamValidationError``. Any exception that is not botocore's (a bug in our code) is re-raised,
    so it stops the worker instead of sending records to the DLQ. Messages name the action, the
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
        if code in _TRANSIENT or status >= 500 or status == 0:
            return RetriableSinkError(f"{action}: AWS answered {what}")
        if 400 <= status < 500:
            return None
        # 1xx-3xx as an error (e.g. 301 PermanentRedirect: the bucket is in another region)
        return FatalSinkError(f"{action}: unexpected AWS answer {what}; check the region and endpoint")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return FatalSinkError(
            f"{action}: no AWS credentials (set STREAMPROC_AWS__ACCESS_KEY_ID/SECRET_ACCESS_KEY or the default chain)"
        )
    if isinstance(exc, ParamValidationError):
        return None
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        return RetriableSinkError(f"{action}: cannot reach AWS ({type(exc).__name__})")
    if isinstance(exc, BotoCoreError):
        return RetriableSinkError(f"{action}: AWS SDK error ({type(exc).__name__})")
    raise exc


def _raise_for(
    exc: Exception, action: str, fallback: SinkError, *, bucket: str | None = None, queue: str | None = None
) -> NoReturn:
    """Raise what ``exc`` means (:func:`classify_error`), ``fallback`` for a per-request failure."""
    raise (classify_error(exc, action, bucket=bucket, queue=queue) or fallback) from exc


def _worst(errors: Iterable[SinkError]) -> SinkError | None:
    errs = list(errors)
    for cls in _SEVERITY:
        for e in errs:
            if isinstance(e, cls):
                return e
    return errs[0] if errs else None


_T = TypeVar("_T")


async def _gather(aws: Iterable[Awaitable[_T]]) -> list[_T]:
    """Await all of ``aws`` concurrently and return their results. When any failed, raise — after
    all have finished — an exception that is no :class:`SinkError` (a bug) first, else the most
    severe SinkError."""
    found = await asyncio.gather(*aws, return_exceptions=True)
    errors = [e for e in found if isinstance(e, BaseException)]
    if errors:
        bug = next((e for e in errors if not isinstance(e, SinkError)), None)
        raise bug if bug is not None else _worst(e for e in errors if isinstance(e, SinkError))  # type: ignore[misc]
    return found  # type: ignore[return-value]


def _get_bytes(s3: Any, bucket: str, key: str) -> bytes:
    """GetObject and read its whole body (blocking: run it on the sink's pool)."""
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


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
            missing = isinstance(exc, ClientError) and _code_status(exc)[1] == 404
            if not (missing and self.create_missing):
                _raise_for(
                    exc, "HeadBucket", FatalSinkError(f"HeadBucket of '{self.bucket}' failed"), bucket=self.bucket
                )
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.aws.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.aws.region}
        try:
            await self.call(s3.create_bucket, **kwargs)
        except Exception as exc:
            _raise_for(exc, "CreateBucket", FatalSinkError(f"cannot create bucket '{self.bucket}'"), bucket=self.bucket)
        log.info("%s: created bucket %s", self.name, self.bucket)

    async def read_marker(self, key: str) -> Marker:
        s3 = self.client("s3")
        try:
            data = await self.call(_get_bytes, s3, self.bucket, key)  # GET and body in one thread hop
        except Exception as exc:
            if isinstance(exc, ClientError) and _code_status(exc)[0] in _NO_KEY:
                return Marker()
            # transient and throttling codes are retried (classify_error); any other refusal of our own
            # marker is a configuration problem, not something a retry fixes
            _raise_for(
                exc,
                "GetObject(marker)",
                FatalSinkError(f"s3://{self.bucket}/{key}: reading the progress marker was refused"),
                bucket=self.bucket,
            )
        try:
            return Marker.decode(data)
        except ValueError as exc:
            raise FatalSinkError(f"progress marker s3://{self.bucket}/{key} is corrupt; delete it to reset") from exc

    async def write_marker(self, key: str, marker: Marker) -> None:
        s3 = self.client("s3")
        try:
            await self.call(
                s3.put_object, Bucket=self.bucket, Key=key, Body=marker.encode(), ContentType="application/json"
            )
        except Exception as exc:
            _raise_for(
                exc,
                "PutObject(marker)",
                FatalSinkError(f"s3://{self.bucket}/{key}: writing the progress marker was refused"),
                bucket=self.bucket,
            )

    async def read_markers(
        self, tps: Iterable[tuple[str, int]], key_of: Callable[[str, int], str]
    ) -> dict[tuple[str, int], Marker]:
        tps = list(tps)
        return dict(zip(tps, await _gather(self.read_marker(key_of(t, p)) for t, p in tps)))

    async def put_many(self, items: list[tuple[str, bytes, str]]) -> list[SinkError | None | bool]:
        """PutObject each (key, body, content type); per item True, a SinkError, or None (permanent).
        An exception that is not the SDK's (a bug) propagates."""
        s3 = self.client("s3")

        async def one(key: str, body: bytes, ctype: str) -> SinkError | None | bool:
            try:
                await self.call(s3.put_object, Bucket=self.bucket, Key=key, Body=body, ContentType=ctype)
                return True
            except Exception as exc:
                return classify_error(exc, "PutObject", bucket=self.bucket)

        return list(await asyncio.gather(*(one(*i) for i in items)))
