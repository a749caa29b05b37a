"""S3 and SQS for tests: moto in server mode (real HTTP APIs), in this process.

* :class:`MotoService` — a moto server on a free loopback port::

      svc = MotoService().start()
      svc.endpoint_url      # http://127.0.0.1:<port>
      svc.aws_settings()    # streamproc AwsSettings pointing at it (fake credentials)
      svc.client("s3")      # a boto3 client with short timeouts
      svc.stop()            # the port refuses connections; buckets and queues are kept
      svc.start()           # same port, same state
      svc.outage(20)        # stop now, start again in a background thread after 20 s

  moto keeps its state in process-wide backends, so every server of one process sees the same
  buckets and queues: tests use unique names (:func:`unique_name`). Unlike moto's own
  ``ThreadedMotoServer.stop()``, :meth:`MotoService.stop` also closes the listening socket, so
  clients get "connection refused" rather than a hang while the service is down.
* Fixtures: ``moto_server`` (session; never stopped by tests), ``moto_factory`` (function: private
  servers a test may stop and start), ``aws_settings`` (for ``moto_server``), ``s3_client`` and
  ``sqs_client`` (for ``moto_server``). Import them into a test module, or list this module in
  ``pytest_plugins`` of the root conftest.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from streamproc.devservices import ACCESS_KEY, REGION, SECRET_KEY, MotoServer  # noqa: F401

__all__ = [
    "MotoService",
    "unique_name",
    "moto_server",
    "moto_factory",
    "aws_settings",
    "s3_client",
    "sqs_client",
]



def unique_name(prefix: str) -> str:
    """A bucket/queue name nobody else in this process uses (lower case, S3-valid)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


#: The server itself lives in the package: ``streamproc dev`` and the demo run it too.
MotoService = MotoServer


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoService]:
    svc = MotoService().start()
    yield svc
    svc.stop()


@pytest.fixture
def moto_factory() -> Iterator[Callable[[], MotoService]]:
    started: list[MotoService] = []

    def make() -> MotoService:
        svc = MotoService().start()
        started.append(svc)
        return svc

    yield make
    for svc in started:
        svc.stop()


@pytest.fixture
def aws_settings(moto_server: MotoService) -> Any:
    return moto_server.aws_settings()


@pytest.fixture
def s3_client(moto_server: MotoService) -> Any:
    return moto_server.client("s3")


@pytest.fixture
def sqs_client(moto_server: MotoService) -> Any:
    return moto_server.client("sqs")
