"""AWS plumbing shared by the S3 (+SQS) sinks: boto3 clients and the base sink.

* :func:`boto_config` / :func:`make_client`: clients with bounded timeouts from
  :class:`AwsSettings`; building one does no network I/O.
* :class:`AwsSink`: the base of ``S3TriggerSink`` (``trigger.py``) and ``S3ArchiveSink``
  (``archive.py``) — lazy clients, a private thread pool for the blocking SDK calls, the bucket
  check of ``start()`` and the I/O of the progress markers (their format is in ``markers.py``).
* :func:`fail_once` and :func:`highest_offsets`, small helpers of both sinks' ``write()``.

What an SDK failure means is decided in ``errors.py``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from streamproc.errors import FatalSinkError, SinkError
from streamproc.sinks.base import Sink, SinkBatch, SinkRecord
from streamproc.sinks.s3.errors import NO_KEY_CODES, classify_error, code_status, gather_all, raise_for
from streamproc.sinks.s3.markers import Marker

if TYPE_CHECKING:
    from streamproc.config.settings import AwsSettings

__all__ = ["boto_config", "make_client", "fail_once", "highest_offsets", "AwsSink"]

log = logging.getLogger("streamproc.sink.s3")
# botocore logs request and response bodies at DEBUG: payloads. Never below WARNING here.
for _name in ("botocore", "boto3", "urllib3", "s3transfer"):
    logging.getLogger(_name).setLevel(logging.WARNING)


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
    # boto3's stubs type ``client`` per literal service name; the service here is a run-time string
    return session.client(service, endpoint_url=aws.endpoint_url, config=cfg)  # type: ignore[call-overload]


def _get_bytes(s3: Any, bucket: str, key: str) -> bytes:
    """GetObject and read its whole body (blocking: run it on the sink's pool)."""
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def fail_once(batch: SinkBatch, record: SinkRecord, reason: str, error_class: str = "permanent") -> None:
    """Report ``record`` as a permanent failure of ``batch`` unless it already is one."""
    if not any(f.record is record for f in batch.failures):
        batch.fail(record, reason, error_class)


def highest_offsets(records: Iterable[SinkRecord]) -> dict[tuple[str, int], int]:
    """(topic, partition) → highest offset among ``records``."""
    out: dict[tuple[str, int], int] = {}
    for r in records:
        tp = (r.topic, r.partition)
        if r.offset > out.get(tp, -1):
            out[tp] = r.offset
    return out


class AwsSink(Sink):
    """Shared plumbing: lazy clients, a private thread pool, bucket checks, progress markers.

    ``clients`` (service name → client) replaces the clients the sink would build from ``aws``
    for those services, e.g. a fake in a test; the sink closes them in :meth:`stop`.
    """

    bucket: str

    def __init__(
        self,
        aws: AwsSettings,
        *,
        create_missing: bool,
        config: Config | None,
        concurrency: int,
        clients: Mapping[str, Any] | None = None,
    ) -> None:
        self.aws = aws
        self.create_missing = create_missing
        self.config = config or boto_config(pool=concurrency)
        self.concurrency = concurrency
        self._clients: dict[str, Any] = dict(clients or {})
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
        except Exception as exc:  # noqa: BLE001 - raise_for re-raises anything that is not botocore's
            missing = isinstance(exc, ClientError) and code_status(exc)[1] == 404
            if not (missing and self.create_missing):
                raise_for(
                    exc, "HeadBucket", FatalSinkError(f"HeadBucket of '{self.bucket}' failed"), bucket=self.bucket
                )
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.aws.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.aws.region}
        try:
            await self.call(s3.create_bucket, **kwargs)
        except Exception as exc:  # noqa: BLE001 - raise_for re-raises anything that is not botocore's
            raise_for(exc, "CreateBucket", FatalSinkError(f"cannot create bucket '{self.bucket}'"), bucket=self.bucket)
        log.info("%s: created bucket %s", self.name, self.bucket)

    async def read_marker(self, key: str) -> Marker:
        s3 = self.client("s3")
        try:
            data = await self.call(_get_bytes, s3, self.bucket, key)  # GET and body in one thread hop
        except Exception as exc:  # noqa: BLE001 - raise_for re-raises anything that is not botocore's
            if isinstance(exc, ClientError) and code_status(exc)[0] in NO_KEY_CODES:
                return Marker()
            # transient and throttling codes are retried (classify_error); any other refusal of our own
            # marker is a configuration problem, not something a retry fixes
            raise_for(
                exc,
                "GetObject(marker)",
                FatalSinkError(f"s3://{self.bucket}/{key}: reading the progress marker was refused"),
                bucket=self.bucket,
            )
        try:
            return Marker.decode(data)
        except ValueError:
            raise FatalSinkError(f"progress marker s3://{self.bucket}/{key} is corrupt; delete it to reset") from None

    async def write_marker(self, key: str, marker: Marker) -> None:
        s3 = self.client("s3")
        try:
            await self.call(
                s3.put_object, Bucket=self.bucket, Key=key, Body=marker.encode(), ContentType="application/json"
            )
        except Exception as exc:  # noqa: BLE001 - raise_for re-raises anything that is not botocore's
            raise_for(
                exc,
                "PutObject(marker)",
                FatalSinkError(f"s3://{self.bucket}/{key}: writing the progress marker was refused"),
                bucket=self.bucket,
            )

    async def read_markers(
        self, tps: Iterable[tuple[str, int]], key_of: Callable[[str, int], str]
    ) -> dict[tuple[str, int], Marker]:
        tps = list(tps)
        markers = await gather_all(self.read_marker(key_of(t, p)) for t, p in tps)
        return dict(zip(tps, markers, strict=True))

    async def put_many(self, items: list[tuple[str, bytes, str]]) -> list[SinkError | None | bool]:
        """PutObject each (key, body, content type); per item True, a SinkError, or None (permanent).
        An exception that is not the SDK's (a bug) propagates."""
        s3 = self.client("s3")

        async def one(key: str, body: bytes, ctype: str) -> SinkError | None | bool:
            try:
                await self.call(s3.put_object, Bucket=self.bucket, Key=key, Body=body, ContentType=ctype)
                return True
            except Exception as exc:  # noqa: BLE001 - classify_error re-raises anything that is not botocore's
                return classify_error(exc, "PutObject", bucket=self.bucket)

        return list(await asyncio.gather(*(one(*i) for i in items)))
