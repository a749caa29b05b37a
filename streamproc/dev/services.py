"""Local stand-ins for the sink targets, for ``streamproc dev`` and the demo (never for
production): moto in server mode for S3, SQS and EventBridge, DuckDB as the warehouse, and
the OpenSearch stand-in of :mod:`streamproc.dev.opensearch_fake` (a fake, honestly named).

Only what is not configured is started: a configured endpoint always wins.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from streamproc.config.settings import AwsSettings, Settings
from streamproc.dev.broker import free_port, stop_process
from streamproc.errors import ServiceUnavailable

if TYPE_CHECKING:
    from streamproc.dev.opensearch_fake import OpenSearchFake

__all__ = ["local_services", "LocalServices", "MotoProcess", "endpoint_env", "moto_aws_settings"]

log = logging.getLogger("streamproc.dev")

#: moto accepts any credentials; these are not secrets.
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


def endpoint_env(
    aws: AwsSettings | None = None, opensearch_url: str | None = None, warehouse_dsn: str | None = None
) -> dict[str, str]:
    """``STREAMPROC_*`` variables pointing a worker subprocess at these targets."""
    out: dict[str, str] = {}
    if aws is not None:
        if aws.endpoint_url:
            out["STREAMPROC_AWS__ENDPOINT_URL"] = aws.endpoint_url
        out["STREAMPROC_AWS__REGION"] = aws.region
        if aws.access_key_id is not None and aws.secret_access_key is not None:
            out["STREAMPROC_AWS__ACCESS_KEY_ID"] = aws.access_key_id.get_secret_value()
            out["STREAMPROC_AWS__SECRET_ACCESS_KEY"] = aws.secret_access_key.get_secret_value()
    if opensearch_url:
        out["STREAMPROC_OPENSEARCH__URL"] = opensearch_url
    if warehouse_dsn:
        out["STREAMPROC_WAREHOUSE__DSN"] = warehouse_dsn
    return out


def moto_aws_settings(endpoint_url: str) -> AwsSettings:
    """Settings for a moto endpoint (moto accepts any credentials)."""
    return AwsSettings(
        region=REGION,
        endpoint_url=endpoint_url,
        access_key_id=SecretStr(ACCESS_KEY),
        secret_access_key=SecretStr(SECRET_KEY),
    )


class LocalServices:
    """What :func:`local_services` started; ``settings`` points at them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.opensearch: OpenSearchFake | None = None
        self.notes: list[str] = []

    def env(self) -> dict[str, str]:
        """The same endpoints as environment variables, for a worker subprocess."""
        s = self.settings
        dsn = s.warehouse.dsn.get_secret_value() if s.warehouse.dsn is not None else None
        return {"STREAMPROC_SINK__CREATE_MISSING": "true", **endpoint_env(s.aws, s.opensearch.url, dsn)}


class MotoProcess:
    """moto in server mode as its own process (a core of its own: 170–200 S3 puts/s measured here,
    about twice the in-process thread), for ``streamproc dev`` and the demo. State is lost on stop."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> MotoProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceUnavailable(f"the local moto server exited with code {self.proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return self
            time.sleep(0.2)
        self.stop()
        raise ServiceUnavailable(f"the local moto server did not listen on port {self.port} within {timeout:.0f}s")

    def stop(self) -> None:
        stop_process(self.proc)

    def aws_settings(self) -> AwsSettings:
        return moto_aws_settings(self.endpoint_url)


def _opensearch_fake() -> OpenSearchFake:
    """The OpenSearch stand-in (a fake), started on a free port."""
    from streamproc.dev.opensearch_fake import OpenSearchFake

    return OpenSearchFake(port=free_port()).start()


@contextlib.contextmanager
def local_services(settings: Settings, say: Callable[[str], None] = log.info) -> Iterator[LocalServices]:
    """Start what ``settings`` does not configure (moto for S3/SQS, a DuckDB file, the OpenSearch
    fake) for the duration; the yielded :class:`LocalServices` has settings pointing at them, with
    ``sink.create_missing`` on. Each started service is announced through ``say``."""
    updates: dict[str, Any] = {"sink": settings.sink.model_copy(update={"create_missing": True})}
    started = LocalServices(settings)
    with contextlib.ExitStack() as stack:
        if not settings.aws.endpoint_url:
            server = MotoProcess().start()
            stack.callback(server.stop)
            updates["aws"] = server.aws_settings()
            started.notes.append(f"S3 + SQS: moto server at {server.endpoint_url} (in memory)")
        if settings.warehouse.dsn is None:
            path = Path(settings.datadir) / "warehouse.duckdb"
            path.parent.mkdir(parents=True, exist_ok=True)
            updates["warehouse"] = settings.warehouse.model_copy(
                update={"dsn": SecretStr(f"duckdb://{path.resolve()}")}
            )
            started.notes.append(f"warehouse: DuckDB file {path}")
        if not settings.opensearch.url:
            fake = _opensearch_fake()
            stack.callback(fake.stop)
            started.opensearch = fake
            updates["opensearch"] = settings.opensearch.model_copy(update={"url": fake.url})
            started.notes.append(f"OpenSearch: the stand-in from streamproc.dev (a fake) at {fake.url}")
        started.settings = settings.model_copy(update=updates)
        for note in started.notes:
            say(note)
        yield started
