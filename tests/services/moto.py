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

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from streamproc.config.settings import AwsSettings
from streamproc.dev.services import moto_aws_settings

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


class MotoService:
    """moto in server mode on loopback, quiet; ``stop()`` closes the socket (clients get "connection
    refused", not a hang) and ``start()`` again reuses the port with the same buckets and queues."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> MotoService:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        with self._lock:
            if self._server is not None:
                return self

            class QuietHandler(MotoRequestHandler):
                def log_request(self, *args: Any, **kwargs: Any) -> None:
                    pass

            app = DomainDispatcherApplication(create_backend_app)
            deadline = time.monotonic() + 10
            while True:
                try:
                    server = make_server(self.host, self.port, app, threaded=True, request_handler=QuietHandler)
                    break
                except OSError:  # the port of a just-stopped server may linger for a moment
                    if self.port == 0 or time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            self.port = server.server_port
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, name=f"moto-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
            thread, self._thread = self._thread, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=10)

    def outage(self, seconds: float) -> threading.Thread:
        """Stop now and start again (same port, same state) after ``seconds``; join the thread to wait."""
        self.stop()

        def back() -> None:
            time.sleep(seconds)
            self.start()

        t = threading.Thread(target=back, name=f"moto-outage-{self.port}", daemon=True)
        t.start()
        return t

    def aws_settings(self) -> AwsSettings:
        return moto_aws_settings(self.endpoint_url)

    def client(self, service: str, *, timeout: float = 5.0, attempts: int = 2) -> Any:
        from streamproc.sinks.s3.aws import boto_config, make_client

        return make_client(
            service,
            self.aws_settings(),
            boto_config(connect_timeout=timeout, read_timeout=timeout, max_attempts=attempts),
        )

    def __enter__(self) -> MotoService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
