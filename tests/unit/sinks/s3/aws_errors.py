"""botocore errors as the SDK raises them, for unit tests of the AWS sinks and parity."""

from __future__ import annotations

from botocore.exceptions import ClientError


def client_error(code: str, status: int, operation: str = "PutObject") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )
