"""What an AWS SDK failure means for the S3 (+SQS) sinks and ``streamproc parity``.

* :func:`classify_error`: the :class:`SinkError` an SDK failure means, or ``None`` for a permanent
  failure of one request; any other exception (a bug) is re-raised.
* :func:`raise_for`: raise what a failure means, with a fallback for a per-request failure.
* :func:`worst_error` / :func:`gather_all`: of several failures, the one that decides (a bug
  first, then fatal, backpressure, retriable).
* The AWS error codes each class is recognised by (:data:`THROTTLED_CODES`, …) and
  :func:`code_status`, the code and HTTP status of a ``ClientError``.

Messages name the action, the bucket or queue and the AWS error code only — never an object key,
which holds a document id — and the SDK's exception is dropped at this boundary (neither cause
nor printed context of the error raised), since its text may quote a key or a value.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, NoReturn, TypeVar

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

from streamproc.errors import FatalSinkError, RetriableSinkError, SinkBackpressure, SinkError

__all__ = [
    "THROTTLED_CODES",
    "TRANSIENT_CODES",
    "DENIED_CODES",
    "NO_QUEUE_CODES",
    "NO_KEY_CODES",
    "code_status",
    "classify_error",
    "raise_for",
    "worst_error",
    "gather_all",
]

# Error codes after botocore's own retries. botocore.retries.standard lists them privately
# (ThrottledRetryableChecker._THROTTLED_ERROR_CODES, TransientRetryableChecker._TRANSIENT_ERROR_CODES):
# copied here rather than read from private attributes. PriorRequestNotComplete is in both there;
# here it is transient.
THROTTLED_CODES = frozenset(
    {
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
)
TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "OperationAborted",  # S3: a conflicting operation on the bucket or object is in progress
    }
)
#: Codes of refused credentials or permissions.
DENIED_CODES = frozenset(
    {
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
)
#: Codes of an SQS queue that does not exist.
NO_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"})
#: Codes of an S3 object that does not exist.
NO_KEY_CODES = frozenset({"NoSuchKey", "404"})
_SEVERITY = (FatalSinkError, SinkBackpressure, RetriableSinkError)


def code_status(exc: ClientError) -> tuple[str, int]:
    """The AWS error code (``""`` if none) and HTTP status (0 if none) of a ``ClientError``."""
    err: Mapping[str, Any] = exc.response.get("Error") or {}
    meta: Mapping[str, Any] = exc.response.get("ResponseMetadata") or {}
    return str(err.get("Code") or ""), int(meta.get("HTTPStatusCode") or 0)


def classify_error(
    exc: Exception, action: str, *, bucket: str | None = None, queue: str | None = None
) -> SinkError | None:
    """The :class:`SinkError` an SDK failure means, or ``None``: a
    permanent failure of this one request (a per-record failure) — only for an HTTP 4xx
    ``ClientError`` not known as throttling, transient, missing or denied, and for botocore's
    ``ParamValidationError``. Any exception that is not botocore's (a bug in our code) is re-raised,
    so it stops the worker instead of sending records to the DLQ. Messages name the action, the
    bucket or queue and the AWS error code only — never an object key, which holds a document id.
    ``exc`` is not kept as its cause or context (an SDK message may quote a key or a value): a
    traceback of the returned error prints no SDK text."""
    err = _classify(exc, action, bucket, queue)
    if err is not None:
        err.__cause__ = None
        err.__suppress_context__ = True
    return err


def _classify(exc: Exception, action: str, bucket: str | None, queue: str | None) -> SinkError | None:
    if isinstance(exc, ClientError):
        code, status = code_status(exc)
        what = code or str(status)
        if code in THROTTLED_CODES or status == 429:
            return SinkBackpressure(f"{action}: throttled by AWS ({what})", retry_after=1.0)
        if code == "NoSuchBucket" or (bucket and status == 404 and action.startswith("HeadBucket")):
            return FatalSinkError(f"S3 bucket '{bucket}' does not exist ({action}); create it or fix sinks.*.bucket")
        if code in NO_QUEUE_CODES:
            return FatalSinkError(f"SQS queue '{queue}' does not exist ({action}); create it or fix the entity's queue")
        if code in DENIED_CODES or status in (401, 403):
            target = f"bucket '{bucket}'" if bucket else f"queue '{queue}'" if queue else "AWS"
            return FatalSinkError(f"{action}: access to {target} denied ({what}); check credentials and IAM policy")
        if code in TRANSIENT_CODES or status >= 500 or status == 0:
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


def raise_for(
    exc: Exception, action: str, fallback: SinkError, *, bucket: str | None = None, queue: str | None = None
) -> NoReturn:
    """Raise what ``exc`` means (:func:`classify_error`), ``fallback`` for a per-request failure;
    ``exc`` is neither its cause nor its printed context."""
    raise (classify_error(exc, action, bucket=bucket, queue=queue) or fallback) from None


def worst_error(errors: Iterable[SinkError]) -> SinkError | None:
    """The most severe of ``errors`` (fatal, then backpressure, then retriable); ``None`` if empty."""
    errs = list(errors)
    for cls in _SEVERITY:
        for e in errs:
            if isinstance(e, cls):
                return e
    return errs[0] if errs else None


_T = TypeVar("_T")


async def gather_all(aws: Iterable[Awaitable[_T]]) -> list[_T]:
    """Await all of ``aws`` concurrently and return their results. When any failed, raise — after
    all have finished — an exception that is no :class:`SinkError` (a bug) first, else the most
    severe SinkError."""
    found = await asyncio.gather(*aws, return_exceptions=True)
    errors = [e for e in found if isinstance(e, BaseException)]
    if errors:
        bug = next((e for e in errors if not isinstance(e, SinkError)), None)
        raise bug if bug is not None else worst_error(e for e in errors if isinstance(e, SinkError))  # type: ignore[misc]
    return found  # type: ignore[return-value]
