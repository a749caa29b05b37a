"""Local stand-ins for the sink targets, for ``streamproc dev`` and the demo (never for
production): moto in server mode for S3 and SQS, DuckDB as the warehouse, and — from a source
checkout only — the OpenSearch stand-in of ``tests/services`` (a fake, honestly named).

Only what is not configured is started: a configured endpoint always wins.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Callable, Iterator

from pydantic import SecretStr

from streamproc.broker import free_port
from streamproc.settings import Settings

__all__ = ["local_services", "LocalServices"]

log = logging.getLogger("streamproc.dev")


class LocalServices:
    """What :func:`local_services` started; ``settings`` points at them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.moto: Any = None
        self.opensearch: Any = None
        self.notes: list[str] = []

    def env(self) -> dict[str, str]:
        """The same endpoints as environment variables, for a worker subprocess."""
        s = self.settings
        out = {"STREAMPROC_SINK__CREATE_MISSING": "true"}
        if s.aws.endpoint_url:
            out["STREAMPROC_AWS__ENDPOINT_URL"] = s.aws.endpoint_url
            out["STREAMPROC_AWS__REGION"] = s.aws.region
        if s.aws.access_key_id is not None and s.aws.secret_access_key is not None:
            out["STREAMPROC_AWS__ACCESS_KEY_ID"] = s.aws.access_key_id.get_secret_value()
            out["STREAMPROC_AWS__SECRET_ACCESS_KEY"] = s.aws.secret_access_key.get_secret_value()
        if s.opensearch.url:
            out["STREAMPROC_OPENSEARCH__URL"] = s.opensearch.url
        if s.warehouse.dsn is not None:
            out["STREAMPROC_WAREHOUSE__DSN"] = s.warehouse.dsn.get_secret_value()
        return out


def _opensearch_fake() -> Any:
    try:
        from tests.services.opensearch_fake import OpenSearchFake  # a source checkout only
    except ImportError:
        return None
    return OpenSearchFake(port=free_port()).start()


@contextlib.contextmanager
def local_services(settings: Settings, say: Callable[[str], None] = log.info) -> Iterator[LocalServices]:
    updates: dict[str, Any] = {"sink": settings.sink.model_copy(update={"create_missing": True})}
    started = LocalServices(settings)
    with contextlib.ExitStack() as stack:
        if not settings.aws.endpoint_url:
            from moto.server import ThreadedMotoServer

            port = free_port()
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            server.start()
            stack.callback(server.stop)
            started.moto = server
            updates["aws"] = settings.aws.model_copy(update={
                "endpoint_url": f"http://127.0.0.1:{port}",
                "access_key_id": SecretStr("local"),
                "secret_access_key": SecretStr("local"),
            })
            started.notes.append(f"S3 + SQS: moto server at http://127.0.0.1:{port} (in memory)")
        if settings.warehouse.dsn is None:
            path = Path(settings.datadir) / "warehouse.duckdb"
            path.parent.mkdir(parents=True, exist_ok=True)
            updates["warehouse"] = settings.warehouse.model_copy(update={"dsn": SecretStr(f"duckdb:///{path}")})
            started.notes.append(f"warehouse: DuckDB file {path}")
        if not settings.opensearch.url:
            fake = _opensearch_fake()
            if fake is not None:
                stack.callback(fake.stop)
                started.opensearch = fake
                updates["opensearch"] = settings.opensearch.model_copy(update={"url": fake.url})
                started.notes.append(f"OpenSearch: the stand-in from tests/services (a fake) at {fake.url}")
            else:
                started.notes.append("OpenSearch: not configured (set STREAMPROC_OPENSEARCH__URL); role skipped")
        started.settings = settings.model_copy(update=updates)
        for note in started.notes:
            say(note)
        yield started
