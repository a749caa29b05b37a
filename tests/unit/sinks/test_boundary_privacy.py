"""Third-party exceptions are mapped at the sinks' boundary to value-free errors, and their text
is dropped from anything printable (no cause, no printed context): canaries inside the failing
values of botocore and opensearch-py errors reach no str, repr, args, chain or traceback.
(psycopg's unique violation and the OpenSearch stand-in's mapping error are tested against the
real services in tests/integration/sinks.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from botocore.exceptions import ClientError
from opensearchpy.exceptions import ConnectionError as OsConnectionError
from opensearchpy.exceptions import TransportError

from streamproc.errors import FatalSinkError, RetriableSinkError, SinkBackpressure, SinkError
from streamproc.sinks.opensearch.bulk import item_outcome, safe_reason
from streamproc.sinks.opensearch.client import cluster_info, error_type, transport_error
from streamproc.sinks.s3.errors import classify_error, raise_for
from tests.unit.sinks.printable import chain, printable

CANARY = "canary-4f1d9e@example.org"


def aws_error(code: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"bad value '{CANARY}'", "Key": f"prod/users/{CANARY}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "PutObject",
    )


@pytest.mark.parametrize(("code", "status"), [("InternalError", 500), ("SlowDown", 503), ("NoSuchBucket", 404)])
def test_a_boto_error_quoting_a_value_is_raised_without_its_text(code: str, status: int) -> None:
    original = aws_error(code, status)
    assert CANARY in str(original)
    try:
        try:
            raise original
        except ClientError as exc:
            raise_for(exc, "PutObject", FatalSinkError("refused"), bucket="b")
    except SinkError as err:
        raised = err
    assert CANARY not in printable(raised)
    assert all(not isinstance(e, ClientError) for e in chain(raised))
    returned = classify_error(original, "PutObject", bucket="b")
    assert returned is not None and returned.__cause__ is None and CANARY not in printable(returned)


def os_error(status: int, error: Any) -> TransportError:
    info = {
        "error": {
            "root_cause": [{"type": "mapper_parsing_exception", "reason": f"Preview of field's value: '{CANARY}'"}],
            "type": "mapper_parsing_exception",
            "reason": f"failed to parse field [email] of type [long]. Preview of field's value: '{CANARY}'",
        },
        "status": status,
    }
    return TransportError(status, error, info)


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (400, "mapper_parsing_exception", FatalSinkError),
        (500, f"<html>{CANARY}</html>", RetriableSinkError),  # a body that is not JSON: kept raw
        (429, "es_rejected_execution_exception", SinkBackpressure),
    ],
)
def test_an_opensearch_error_quoting_a_value_is_mapped_without_its_text(status: int, error: str, kind: type) -> None:
    exc = os_error(status, error)
    assert CANARY in str(exc)
    assert CANARY not in error_type(exc)
    try:
        try:
            raise exc
        except TransportError as e:
            raise transport_error(e, "127.0.0.1:9200", "a bulk request of 3 actions") from None
    except SinkError as err:
        assert isinstance(err, kind)
        assert CANARY not in printable(err)
        assert all(not isinstance(e, TransportError) for e in chain(err))


class FakeInfoClient:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def info(self) -> dict:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (OsConnectionError("N/A", f"refused {CANARY}", OSError(CANARY)), RetriableSinkError),
        (os_error(503, f"unavailable {CANARY}"), RetriableSinkError),
        (os_error(429, "es_rejected_execution_exception"), SinkBackpressure),
        (os_error(404, f"not found {CANARY}"), FatalSinkError),
    ],
)
def test_start_maps_outages_to_retriable_and_the_rest_to_fatal_without_the_text(exc: Exception, kind: type) -> None:
    with pytest.raises(SinkError) as raised:
        asyncio.run(cluster_info(FakeInfoClient(exc), "127.0.0.1:9200"))  # type: ignore[arg-type]
    assert type(raised.value) is kind
    assert CANARY not in printable(raised.value)
    assert chain(raised.value) == [raised.value]


def test_a_mapping_error_reason_keeps_names_and_drops_quoted_values() -> None:
    for reason in [
        f"failed to parse date field [{CANARY}] with format [strict_date_optional_time]",
        f"failed to parse field [when] of type [date] in document with id '{CANARY}'. Preview: '{CANARY}'",
        f"Preview of field's value: '{CANARY}' for field [x]",
    ]:
        error = {"type": "mapper_parsing_exception", "reason": reason, "caused_by": {"type": f"x {CANARY}"}}
        out = item_outcome("index", {"status": 400, "error": error})
        assert out.kind == "fail" and CANARY not in out.reason
        assert "mapper_parsing_exception" in out.reason
    assert safe_reason({"type": f"bad {CANARY}", "reason": "x"}) == "unknown_error"
