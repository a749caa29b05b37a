"""The OpenSearch sink and ``streamproc opensearch init`` (opensearch-py's AsyncOpenSearch).

All planning is pure and lives elsewhere — index names, ids and actions in
:mod:`streamproc.sinks.opensearch.plan`, external versions in ``opensearch_version``, bulk lines
and item outcomes in ``opensearch_bulk`` (chunks come from the runner's ``chunks``), template and
policy bodies in ``opensearch_bodies``; this module only talks to the cluster and maps its answers
onto the sink contract:

* ``start()``: ``GET /``; unreachable cluster, 401, 403 or a non-OpenSearch answer →
  :class:`FatalSinkError` naming ``host:port`` (never credentials). With ``create_missing`` and
  the entities' namespaces it also installs the templates and the policy, like ``init``.
* ``write()``: one ``_bulk`` request per chunk (``max_bulk_records`` / ``max_bulk_bytes``), every
  action ``version_type=external``. Per item: 2xx, 409 (stale or repeated) and a 404 delete are
  done; mapping errors → ``batch.fail`` (type and field, never the value); 429 →
  :class:`SinkBackpressure`; 5xx, connection errors, blocked indices → :class:`RetriableSinkError`
  (the runner re-sends the whole batch; already-written items answer 409 = done); 401/403 →
  :class:`FatalSinkError`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import (
    AuthenticationException,
    AuthorizationException,
    NotFoundError,
    TransportError,
)
from opensearchpy.exceptions import (
    ConnectionError as OsConnectionError,
)

from streamproc.config.settings import OpenSearchSettings
from streamproc.errors import ConfigError, FatalSinkError, RetriableSinkError, SinkBackpressure
from streamproc.sinks.base import Sink, SinkBatch, SinkRecord
from streamproc.sinks.opensearch.bodies import (
    bootstrap_index_body,
    entity_indices,
    index_template_body,
    ism_policy_body,
    rollover_template_body,
)
from streamproc.sinks.opensearch.bulk import action_lines, item_outcome
from streamproc.sinks.opensearch.plan import (
    IndexNames,
    OpenSearchSpec,
    OsAction,
    plan_record,
    rollover_index_names,
)
from streamproc.sinks.opensearch.version import Unplannable
from streamproc.sinks.runner import chunks

__all__ = ["OpenSearchSink", "InitReport", "opensearch_init"]

log = logging.getLogger("streamproc.sink.opensearch")
# opensearch-py logs every failed request with a traceback (its "opensearch" logger) and, at
# DEBUG, whole request bodies as curl commands ("opensearchpy.trace"): payloads. The sink logs
# each classified failure itself, without values.
logging.getLogger("opensearch").setLevel(logging.ERROR)
logging.getLogger("opensearchpy.trace").disabled = True


def _where(url: str | None) -> str:
    """``host:port`` of a URL — never its user-info."""
    if not url:
        return "(no url)"
    parts = urlsplit(url if "://" in url else f"http://{url}")
    port = parts.port or (443 if parts.scheme == "https" else 9200)
    return f"{parts.hostname}:{port}"


def _client(settings: OpenSearchSettings) -> AsyncOpenSearch:
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


def _etype(exc: TransportError) -> str:
    return str(exc.error)[:80] if exc.error else "error"


def _transport_error(exc: Exception, where: str, doing: str, retry_after: float = 1.0) -> Exception:
    """The sink error for a failed request (``raise _transport_error(...) from exc``); a 429
    becomes :class:`SinkBackpressure` with ``retry_after``."""
    if isinstance(exc, OsConnectionError):
        return RetriableSinkError(f"OpenSearch at {where} unreachable while {doing} ({type(exc).__name__})")
    if isinstance(exc, TransportError):
        status = exc.status_code
        if status == 429:
            return SinkBackpressure(f"OpenSearch at {where} throttled {doing} (429 {_etype(exc)})", retry_after)
        if isinstance(status, int) and status >= 500:
            return RetriableSinkError(f"OpenSearch at {where} failed {doing} ({status} {_etype(exc)})")
        if status == 401:
            return FatalSinkError(
                f"OpenSearch at {where} refused the credentials (401) while {doing}; "
                "check STREAMPROC_OPENSEARCH__USERNAME and __PASSWORD"
            )
        if status == 403:
            return FatalSinkError(
                f"OpenSearch at {where} denied {doing} (403 {_etype(exc)}); the user lacks a permission"
            )
        return FatalSinkError(f"OpenSearch at {where} refused {doing} ({status} {_etype(exc)})")
    return RetriableSinkError(f"OpenSearch at {where}: {type(exc).__name__} while {doing}")


async def _cluster_info(client: AsyncOpenSearch, where: str) -> dict[str, Any]:
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
            f"OpenSearch at {where} denied cluster info (403 {_etype(exc)}); the user needs "
            "cluster:monitor/main and write permissions on the sink's indices"
        ) from exc
    except TransportError as exc:
        raise FatalSinkError(
            f"OpenSearch at {where} answered {exc.status_code} ({_etype(exc)}) to GET /; is this an OpenSearch cluster?"
        ) from exc
    version = info.get("version") if isinstance(info, dict) else None
    if not isinstance(version, dict) or not version.get("number"):
        raise FatalSinkError(f"the server at {where} does not answer like OpenSearch (no version in GET /)")
    return info


@dataclass
class InitReport:
    """What ``streamproc opensearch init`` installed."""

    cluster: str
    version: str
    indices: dict[str, str]  # entity → index (or rollover alias)
    templates: list[str]
    policy: str
    policy_result: str  # created | updated
    aliases_created: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def _ensure_alias(client: AsyncOpenSearch, alias: str, where: str) -> bool:
    """Create ``<alias>-000001`` as the write index of ``alias`` unless the alias exists; True if created."""
    doing = f"bootstrapping rollover alias {alias}"
    try:
        if await client.indices.exists_alias(name=alias):
            return False
        if await client.indices.exists(index=alias):
            raise FatalSinkError(
                f"index {alias} exists as a plain index, so it cannot become a rollover alias; "
                f"reindex it or remove its entity from sinks.opensearch.ism.entities"
            )
        _, first = rollover_index_names(alias)
        await client.indices.create(index=first, body=bootstrap_index_body(alias))
        return True
    except TransportError as exc:
        if exc.status_code == 400 and exc.error == "resource_already_exists_exception":
            return False  # another worker bootstrapped it first
        raise _transport_error(exc, where, doing) from exc


async def _put_policy(client: AsyncOpenSearch, policy_id: str, body: dict[str, Any], where: str) -> str:
    ism = client.plugins.index_management
    doing = f"installing ISM policy {policy_id}"
    try:
        try:
            current = await ism.get_policy(policy=policy_id)
        except NotFoundError:
            current = None
        if current is None:
            await ism.put_policy(policy=policy_id, body=body)
            return "created"
        params = {"if_seq_no": current["_seq_no"], "if_primary_term": current["_primary_term"]}
        await ism.put_policy(policy=policy_id, body=body, params=params)
        return "updated"
    except TransportError as exc:
        if exc.status_code == 400 and "no handler" in str(exc.info).lower():
            raise FatalSinkError(f"OpenSearch at {where} has no ISM plugin (_plugins/_ism)") from exc
        if exc.status_code == 409:
            raise RetriableSinkError(f"ISM policy {policy_id} changed while {doing}; run again") from exc
        raise _transport_error(exc, where, doing) from exc


async def _install(
    client: AsyncOpenSearch, spec: OpenSearchSpec, namespaces: Mapping[str, str | None], where: str, version: str
) -> InitReport:
    unknown = [e for e in (spec.entities if spec.entities != "all" else []) if e not in namespaces]
    unknown += [e for e in spec.ism.entities if e not in namespaces and e not in unknown]
    if unknown:
        raise ConfigError(f"sinks.opensearch: {', '.join(unknown)} is not an entity of any source")
    try:
        indices = entity_indices(spec, namespaces)
    except Unplannable as exc:
        raise ConfigError(f"sinks.opensearch.index_template: {exc.reason}") from None
    rolled = sorted({indices[e] for e in spec.ism.entities})
    plain = sorted(set(indices.values()) - set(rolled))
    templates: list[tuple[str, dict[str, Any]]] = []
    if plain:
        templates.append((spec.template_name, index_template_body(spec, plain)))
    for alias in rolled:
        templates.append((f"{spec.template_name}-rollover-{alias}", rollover_template_body(spec, alias)))
    for name, body in templates:
        try:
            await client.indices.put_index_template(name=name, body=body)
        except TransportError as exc:
            raise _transport_error(exc, where, f"installing index template {name}") from exc
    result = await _put_policy(client, spec.ism.policy_id, ism_policy_body(spec, rolled), where)
    created = [alias for alias in rolled if await _ensure_alias(client, alias, where)]
    return InitReport(where, version, indices, [n for n, _ in templates], spec.ism.policy_id, result, created)


async def opensearch_init(
    settings: OpenSearchSettings, spec: OpenSearchSpec, namespaces: Mapping[str, str | None]
) -> InitReport:
    """Install (or update — running it again is fine) the index templates, the ISM policy and the
    rollover aliases of ``spec.ism.entities``. ``namespaces`` maps every source entity to its
    namespace (``None`` when only a topic is configured)."""
    where = _where(settings.url)
    client = _client(settings)
    try:
        info = await _cluster_info(client, where)
        return await _install(client, spec, namespaces, where, str(info["version"]["number"]))
    finally:
        await client.close()


class OpenSearchSink(Sink):
    """Mirrors each entity into one index: documents indexed or deleted with external versions
    derived from the source position (see :mod:`streamproc.sinks.opensearch.version`)."""

    name = "opensearch"

    def __init__(
        self,
        spec: OpenSearchSpec,
        settings: OpenSearchSettings,
        *,
        namespaces: Mapping[str, str | None] | None = None,
        create_missing: bool = False,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.namespaces = dict(namespaces) if namespaces is not None else None
        self.create_missing = create_missing
        self.where = _where(settings.url)
        self._client: AsyncOpenSearch | None = None
        self._aliases_ready: set[str] = set()
        self._index_names = IndexNames(spec)

    def wants(self, record: SinkRecord) -> bool:
        return self.spec.wants(record.entity)

    def plan(self, records: list[SinkRecord]) -> list[dict[str, Any]]:
        return [plan_record(self.spec, r, self._index_names).as_plan() for r in records]

    async def start(self) -> None:
        client = _client(self.settings)
        try:
            info = await _cluster_info(client, self.where)
            if self.create_missing and self.namespaces is not None:
                report = await _install(client, self.spec, self.namespaces, self.where, str(info["version"]["number"]))
                self._aliases_ready.update(report.indices[e] for e in self.spec.ism.entities)
                log.info(
                    "opensearch: installed templates %s and ISM policy %s (%s)",
                    ", ".join(report.templates) or "(none)",
                    report.policy,
                    report.policy_result,
                )
            elif not await self._template_present(client):
                log.warning(
                    "opensearch: index template %s is missing at %s; run `streamproc opensearch init` "
                    "(indices get OpenSearch's default dynamic mapping meanwhile)",
                    self.spec.template_name,
                    self.where,
                )
        except BaseException:
            await client.close()
            raise
        self._client = client
        log.info("opensearch: connected to %s (OpenSearch %s)", self.where, info["version"]["number"])

    async def _template_present(self, client: AsyncOpenSearch) -> bool:
        try:
            return bool(await client.indices.exists_index_template(name=self.spec.template_name))
        except TransportError:
            return True  # no permission to look: assume the operator installed it

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def write(self, batch: SinkBatch) -> None:
        client = self._client
        if client is None:
            raise FatalSinkError("opensearch sink: write() called before start()")
        entries: list[tuple[tuple[SinkRecord, OsAction], bytes]] = []
        skipped = 0
        for record in batch.records:
            act = plan_record(self.spec, record, self._index_names)
            if act.action == "dlq":
                batch.fail(record, act.reason or "unplannable")
            elif act.action == "skip":
                skipped += 1
            else:
                entries.append(((record, act), action_lines(self.spec, act, record.doc)))
        if skipped:
            log.info("opensearch: skipped %d truncate event(s); truncates are not applied", skipped)
        rolled = {a.index for (r, a), _ in entries if r.entity in self.spec.ism.entities}
        for alias in sorted(rolled - self._aliases_ready):
            await _ensure_alias(client, alias, self.where)
            self._aliases_ready.add(alias)
        stale = 0
        for chunk in chunks(entries, self.spec.max_bulk_records, self.spec.max_bulk_bytes, size=lambda e: len(e[1])):
            stale += await self._send(client, chunk, batch)
        if stale:
            log.debug("opensearch: %d stale or repeated write(s) refused by version (done)", stale)

    async def _send(
        self, client: AsyncOpenSearch, chunk: list[tuple[tuple[SinkRecord, OsAction], bytes]], batch: SinkBatch
    ) -> int:
        body = b"".join(lines for _, lines in chunk)
        doing = f"a bulk request of {len(chunk)} actions"
        try:
            resp = await client.bulk(body=body)
        except TransportError as exc:
            if exc.status_code == 413:
                raise FatalSinkError(
                    f"OpenSearch at {self.where} refused {doing} ({len(body)} bytes) as too large "
                    "(413); lower sinks.opensearch.max_bulk_bytes"
                ) from exc
            raise _transport_error(exc, self.where, doing, self.spec.backpressure_seconds) from exc
        items = resp.get("items") if isinstance(resp, dict) else None
        if not isinstance(items, list) or len(items) != len(chunk):
            raise RetriableSinkError(
                f"OpenSearch at {self.where} answered {doing} with "
                f"{len(items) if isinstance(items, list) else 'no'} items"
            )
        stale = 0
        throttled: list[str] = []
        retry: list[str] = []
        for ((record, act), _), item in zip(chunk, items, strict=True):
            ((op_type, result),) = item.items()
            outcome = item_outcome(op_type, result)
            if outcome.kind == "stale":
                stale += 1
            elif outcome.kind == "fail":
                batch.fail(record, f"{outcome.reason} (index {act.index})")
            elif outcome.kind == "throttled":
                throttled.append(outcome.reason)
            elif outcome.kind == "retry":
                retry.append(outcome.reason)
            elif outcome.kind == "fatal":
                raise FatalSinkError(f"OpenSearch at {self.where}, index {act.index}: {outcome.reason}")
        if throttled:
            raise SinkBackpressure(
                f"OpenSearch at {self.where} rejected {len(throttled)} of {len(chunk)} bulk items ({throttled[0]})",
                retry_after=self.spec.backpressure_seconds,
            )
        if retry:
            raise RetriableSinkError(
                f"OpenSearch at {self.where} failed {len(retry)} of {len(chunk)} bulk items ({retry[0]})"
            )
        return stale
