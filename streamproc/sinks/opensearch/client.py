"""The OpenSearch connection of the sink and of ``streamproc opensearch init`` (opensearch-py).

:func:`make_client` builds an ``AsyncOpenSearch`` from :class:`OpenSearchSettings` (no request
yet), :func:`cluster_info` is the ``GET /`` of start-up and ``init``, and
:func:`transport_error` maps a failed request onto the sink errors. Messages name the cluster as
``host:port`` (:func:`host_port`), never credentials, and OpenSearch's error type, never a
document value.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import (
    AuthenticationException,
    AuthorizationException,
    TransportError,
)
from opensearchpy.exceptions import (
    ConnectionError as OsConnectionError,
)

from streamproc.errors import FatalSinkError, RetriableSinkError, SinkBackpressure

if TYPE_CHECKING:
    from streamproc.config.settings import OpenSearchSettings

__all__ = ["host_port", "make_client", "error_type", "transport_error", "cluster_info"]

# opensearch-py logs every failed request with a traceback (its "opensearch" logger) and, at
# DEBUG, whole request bodies as curl commands ("opensearchpy.trace"): payloads. The sink logs
# each classified failure itself, without values.
logging.getLogger("opensearch").setLevel(logging.ERROR)
logging.getLogger("opensearchpy.trace").disabled = True


def host_port(url: str | None) -> str:
    """``host:port`` of a URL — never its user-info."""
    if not url:
        return "(no url)"
    parts = urlsplit(url if "://" in url else f"http://{url}")
    port = parts.port or (443 if parts.scheme == "https" else 9200)
    return f"{parts.hostname}:{port}"


def make_client(settings: OpenSearchSettings) -> AsyncOpenSearch:
    """A client without retries of its own (the runner retries); :class:`FatalSinkError` without a URL."""
    if not settings.url:
        raise FatalSinkError("OpenSearch URL is not set (STREAMPROC_OPENSEARCH__URL)")
    auth = None
    if settings.username:
        auth = (settings.username, settings.password.get_secret_value() if settings.password else "")
    return AsyncOpenSearch(
        hosts=[settings.url],
        http_auth=auth,
        verify_certs=settings.verify_certs,
        timeout=settings.timeout,
        max_retries=0,
        retry_on_timeout=False,
    )


def error_type(exc: TransportError) -> str:
    """OpenSearch's error type of a failed request (at most 80 characters), or ``error``."""
    return str(exc.error)[:80] if exc.error else "error"


def transport_error(exc: Exception, where: str, doing: str, retry_after: float = 1.0) -> Exception:
    """The sink error for a failed request (``raise transport_error(...) from exc``); a 429
    becomes :class:`SinkBackpressure` with ``retry_after``."""
    if isinstance(exc, OsConnectionError):
        return RetriableSinkError(f"OpenSearch at {where} unreachable while {doing} ({type(exc).__name__})")
    if isinstance(exc, TransportError):
        status = exc.status_code
        if status == 429:
            return SinkBackpressure(f"OpenSearch at {where} throttled {doing} (429 {error_type(exc)})", retry_after)
        if isinstance(status, int) and status >= 500:
            return RetriableSinkError(f"OpenSearch at {where} failed {doing} ({status} {error_type(exc)})")
        if status == 401:
            return FatalSinkError(
                f"OpenSearch at {where} refused the credentials (401) while {doing}; "
                "check STREAMPROC_OPENSEARCH__USERNAME and __PASSWORD"
            )
        if status == 403:
            return FatalSinkError(
                f"OpenSearch at {where} denied {doing} (403 {error_type(exc)}); the user lacks a permission"
            )
        return FatalSinkError(f"OpenSearch at {where} refused {doing} ({status} {error_type(exc)})")
    return RetriableSinkError(f"OpenSearch at {where}: {type(exc).__name__} while {doing}")


async def cluster_info(client: AsyncOpenSearch, where: str) -> dict[str, Any]:
    """``GET /``, every failure a :class:`FatalSinkError` (start-up and ``init`` only)."""
    try:
        info = await client.info()
    except OsConnectionError as exc:
        raise FatalSinkError(
            f"OpenSearch at {where} is not reachable ({type(exc).__name__}); check STREAMPROC_OPENSEARCH__URL "
            "and that the cluster runs"
        ) from exc
    except AuthenticationException as exc:
        raise FatalSinkError(
            f"OpenSearch at {where} refused the credentials (401); check "
            "STREAMPROC_OPENSEARCH__USERNAME and STREAMPROC_OPENSEARCH__PASSWORD"
        ) from exc
    except AuthorizationException as exc:
        raise FatalSinkError(
            f"OpenSearch at {where} denied cluster info (403 {error_type(exc)}); the user needs "
            "cluster:monitor/main and write permissions on the sink's indices"
        ) from exc
    except TransportError as exc:
        raise FatalSinkError(
            f"OpenSearch at {where} answered {exc.status_code} ({error_type(exc)}) to GET /; "
            "is this an OpenSearch cluster?"
        ) from exc
    version = info.get("version") if isinstance(info, dict) else None
    if not isinstance(version, dict) or not version.get("number"):
        raise FatalSinkError(f"the server at {where} does not answer like OpenSearch (no version in GET /)")
    return info
