"""What an AWS SDK failure means (``streamproc.sinks.s3.errors``): classification at the boundary,
the codes botocore retries, and which failure decides among several."""

from __future__ import annotations

import pytest

from tests.unit.sinks.s3.aws_errors import client_error


def test_error_mapping_at_the_boundary() -> None:
    from botocore.exceptions import (
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    from streamproc.errors import FatalSinkError, RetriableSinkError, SinkBackpressure
    from streamproc.sinks.s3.errors import classify_error

    slow = classify_error(client_error("SlowDown", 503), "PutObject", bucket="b")
    assert isinstance(slow, SinkBackpressure) and slow.retry_after > 0
    assert isinstance(
        classify_error(client_error("ThrottlingException", 400), "SendMessageBatch", queue="q"), SinkBackpressure
    )
    gone = classify_error(client_error("NoSuchBucket", 404), "PutObject", bucket="my-bucket")
    assert isinstance(gone, FatalSinkError) and "my-bucket" in str(gone) and gone.__cause__ is None
    head = classify_error(client_error("404", 404), "HeadBucket", bucket="my-bucket")
    assert isinstance(head, FatalSinkError) and "'my-bucket' does not exist" in str(head)
    noq = classify_error(client_error("AWS.SimpleQueueService.NonExistentQueue", 400), "SendMessageBatch", queue="q1")
    assert isinstance(noq, FatalSinkError) and "'q1'" in str(noq)
    denied = classify_error(client_error("AccessDenied", 403), "PutObject", bucket="b")
    assert isinstance(denied, FatalSinkError) and "denied" in str(denied)
    assert isinstance(classify_error(client_error("InternalError", 500), "PutObject", bucket="b"), RetriableSinkError)
    assert classify_error(client_error("InvalidArgument", 400), "PutObject", bucket="b") is None
    url = "http://127.0.0.1:9/b/prod/users/secret-doc-1"
    refused = classify_error(EndpointConnectionError(endpoint_url=url), "PutObject", bucket="b")
    assert isinstance(refused, RetriableSinkError) and "secret-doc" not in str(refused)
    assert isinstance(classify_error(ReadTimeoutError(endpoint_url=url), "PutObject"), RetriableSinkError)
    assert isinstance(classify_error(NoCredentialsError(), "HeadBucket"), FatalSinkError)


@pytest.mark.parametrize(
    "code", ["RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", "OperationAborted"]
)
@pytest.mark.parametrize("status", [400, 409])
def test_transient_codes_are_retriable(code: str, status: int) -> None:
    from streamproc.errors import RetriableSinkError
    from streamproc.sinks.s3.errors import classify_error

    err = classify_error(client_error(code, status), "PutObject", bucket="b")
    assert type(err) is RetriableSinkError and code in str(err) and err.__cause__ is None


@pytest.mark.parametrize(
    "code",
    [
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
        "KmsThrottled",
    ],
)
def test_throttle_codes_are_backpressure(code: str) -> None:
    from streamproc.errors import SinkBackpressure
    from streamproc.sinks.s3.errors import classify_error

    err = classify_error(client_error(code, 400), "SendMessageBatch", queue="q")
    assert isinstance(err, SinkBackpressure) and err.retry_after > 0
    assert isinstance(classify_error(client_error("", 429), "PutObject"), SinkBackpressure)


def test_botocore_throttle_and_transient_codes_are_all_covered() -> None:
    """Every code botocore's standard retry mode retries is retried here too (once its attempts are spent)."""
    from botocore.retries import standard

    from streamproc.sinks.s3.errors import THROTTLED_CODES, TRANSIENT_CODES

    transient = getattr(standard.TransientRetryableChecker, "_TRANSIENT_ERROR_CODES", None)
    throttled = getattr(standard.ThrottledRetryableChecker, "_THROTTLED_ERROR_CODES", None)
    if transient is None or throttled is None:
        pytest.skip("botocore no longer lists its retry codes where this test looks")
    assert set(transient) <= TRANSIENT_CODES
    assert set(throttled) <= THROTTLED_CODES | TRANSIENT_CODES


def test_only_unlisted_4xx_and_invalid_parameters_are_per_record() -> None:
    from botocore.exceptions import ParamValidationError

    from streamproc.sinks.s3.errors import classify_error

    for code, status in [
        ("InvalidArgument", 400),
        ("EntityTooLarge", 400),
        ("InvalidParameterValue", 400),
        ("PreconditionFailed", 412),
        ("", 413),
    ]:
        assert classify_error(client_error(code, status), "PutObject", bucket="b") is None
    assert classify_error(ParamValidationError(report="Key: too long"), "PutObject", bucket="b") is None


def test_a_redirect_is_fatal_not_per_record() -> None:
    from streamproc.errors import FatalSinkError
    from streamproc.sinks.s3.errors import classify_error

    err = classify_error(client_error("PermanentRedirect", 301), "PutObject", bucket="b")
    assert isinstance(err, FatalSinkError) and "PermanentRedirect" in str(err)


def test_other_sdk_errors_are_retriable() -> None:
    from botocore.exceptions import IncompleteReadError

    from streamproc.errors import RetriableSinkError
    from streamproc.sinks.s3.errors import classify_error

    err = classify_error(IncompleteReadError(actual_bytes=1, expected_bytes=2), "GetObject", bucket="b")
    assert isinstance(err, RetriableSinkError) and "IncompleteReadError" in str(err)


@pytest.mark.parametrize(
    "bug", [TypeError("unexpected keyword"), KeyError("Body"), ValueError("x"), AttributeError("y")]
)
def test_a_bug_is_re_raised_not_classified(bug: Exception) -> None:
    from streamproc.sinks.s3.errors import classify_error

    with pytest.raises(type(bug)) as info:
        classify_error(bug, "PutObject", bucket="b")
    assert info.value is bug


def test_gather_raises_a_bug_before_any_sink_error() -> None:
    import asyncio

    from streamproc.errors import FatalSinkError, RetriableSinkError, SinkBackpressure
    from streamproc.sinks.s3.errors import gather_all

    async def ok(v: int) -> int:
        return v

    async def fail(e: BaseException) -> int:
        raise e

    async def go(*aws) -> list[int]:
        return await gather_all(aws)

    assert asyncio.run(go(ok(1), ok(2))) == [1, 2]
    assert asyncio.run(go()) == []
    fatal = FatalSinkError("f")
    with pytest.raises(FatalSinkError) as info:
        asyncio.run(go(fail(RetriableSinkError("r")), fail(fatal), fail(SinkBackpressure("b", retry_after=1))))
    assert info.value is fatal
    with pytest.raises(TypeError):
        asyncio.run(go(fail(fatal), fail(TypeError("bug")), ok(3)))
