"""The OpenSearch connection of the sink and of ``streamproc opensearch init`` (opensearch-py).

:func:`make_client` builds an ``AsyncOpenSearch`` from :class:`OpenSearchSettings` (no request
yet), :func:`cluster_info` is the ``GET /`` of start-up and ``init``, and
:func:`transport_error` maps a failed request onto the sink errors. Messages name the cluster as
``host:port`` (:func:`host_port`), never credentials, and OpenSearch's error type, never a
document value. opensearch-py's exception is dropped at this boundary (callers raise the mapped
error ``from None``): its text quotes OpenSearch's reason, which quotes field values.
"""

from __future__ import annotations

import logging
import re
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


_ERROR_TYPE = re.compile(r"[a-z][a-z0-9_.]{0,79}")


def error_type(exc: TransportError) -> str:
    """OpenSearch's error type of a failed request (``mapper_parsing_exception``…), or ``error``
    when the answer carries none — opensearch-py then holds the raw body, which may quote values."""
    etype = exc.error if isinstance(exc.error, str) else ""
    return etype if _ERROR_TYPE.fullmatch(etype) else "error"


def transport_error(exc: Exception, where: str, doing: str, retry_after: float = 1.0) -> Exception:
    """The sink error for a failed request (``raise transport_error(...) from None``): unreachable,
    5xx → :class:`RetriableSinkError`; 429 → :class:`SinkBackpressure` with ``retry_after``;
    401/403 and other 4xx → :class:`FatalSinkError`."""
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
    """``GET /`` (start-up and ``init``): an unreachable cluster, a 5xx or a 429 is transient
    (:class:`RetriableSinkError` / :class:`SinkBackpressure`: the runner waits it out); refused
    credentials or permissions and an answer that is not OpenSearch's are :class:`FatalSinkError`."""
    failure: Exception | None = None
    try:
        info = await client.info()
    except OsConnectionError as exc:
        failure = RetriableSinkError(
            f"OpenSearch at {where} is not reachable ({type(exc).__name__}); check STREAMPROC_OPENSEARCH__URL "
            "and that the cluster runs"
        )
    except AuthenticationException:
        failure = FatalSinkError(
            f"OpenSearch at {where} refused the credentials (401); check "
            "STREAMPROC_OPENSEARCH__USERNAME and STREAMPROC_OPENSEARCH__PASSWORD"
        )
    except AuthorizationException as exc:
        failure = FatalSinkError(
            f"OpenSearch at {where} denied cluster info (403 {error_type(exc)}); the user needs "
            "cluster:monitor/main and write permissions on the sink's indices"
        )
    except TransportError as exc:
        status = exc.status_code
        if status == 429 or (isinstance(status, int) and status >= 500):
            failure = transport_error(exc, where, "answering GET /")
        else:
            failure = FatalSinkError(
                f"OpenSearch at {where} answered {status} ({error_type(exc)}) to GET /; is this an OpenSearch cluster?"
            )
    if failure is not None:
        raise failure  # outside the handler: opensearch-py's exception is not its context
    version = info.get("version") if isinstance(info, dict) else None
    if not isinstance(version, dict) or not version.get("number"):
        raise FatalSinkError(f"the server at {where} does not answer like OpenSearch (no version in GET /)")
    return info
