"""The OpenSearch sink (opensearch-py's AsyncOpenSearch).

All planning is pure and lives elsewhere — index names, ids and actions in ``plan.py``, external
versions in ``version.py``, bulk lines and item outcomes in ``bulk.py`` (chunks come from the
runner's ``chunks``), template and policy bodies in ``bodies.py``; the client and the mapping of
failed requests are in ``client.py``, the installation of templates, policy and aliases in
``admin.py``. This module only talks to the cluster and maps its answers onto the sink contract:

* ``start()``: ``GET /``; an unreachable cluster, a 5xx or a 429 → :class:`RetriableSinkError` /
  :class:`SinkBackpressure` (the runner waits the outage out); 401, 403 or a non-OpenSearch
  answer → :class:`FatalSinkError` naming ``host:port`` (never credentials). With
  ``create_missing`` and the entities' namespaces it also installs the templates and the policy,
  like ``init``.
* ``write()``: one ``_bulk`` request per chunk (``max_bulk_records`` / ``max_bulk_bytes``), every
  action ``version_type=external_gte``. Per item: 2xx, 409 (stale) and a 404 delete are
  done; mapping errors → ``batch.fail`` (type and field, never the value); 429 →
  :class:`SinkBackpressure`; 5xx, connection errors, blocked indices → :class:`RetriableSinkError`
  (the runner re-sends the whole batch; already-written items are rewritten with the same content
  or answer 409 = done); 401/403 →
  :class:`FatalSinkError`. opensearch-py's exceptions are never kept as a cause: their text
  quotes OpenSearch's reason, which quotes values.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import TransportError

from streamproc.errors import FatalSinkError, RetriableSinkError, SinkBackpressure
from streamproc.sinks.base import Sink, SinkBatch, SinkRecord
from streamproc.sinks.opensearch.admin import ensure_alias, install
from streamproc.sinks.opensearch.bulk import action_lines, item_outcome
from streamproc.sinks.opensearch.client import cluster_info, host_port, make_client, transport_error
from streamproc.sinks.opensearch.plan import IndexNames, OsAction, plan_record
from streamproc.sinks.runner import chunks

if TYPE_CHECKING:
    from streamproc.config.settings import OpenSearchSettings
    from streamproc.config.sink_opensearch import OpenSearchSpec

__all__ = ["OpenSearchSink"]

log = logging.getLogger("streamproc.sink.opensearch")


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
        self.where = host_port(settings.url)
        self._client: AsyncOpenSearch | None = None
        self._aliases_ready: set[str] = set()
        self._index_names = IndexNames(spec)

    def wants(self, record: SinkRecord) -> bool:
        return self.spec.wants(record.entity)

    def plan(self, records: list[SinkRecord]) -> list[dict[str, Any]]:
        return [plan_record(self.spec, r, self._index_names).as_plan() for r in records]

    async def start(self) -> None:
        client = make_client(self.settings)
        try:
            info = await cluster_info(client, self.where)
            if self.create_missing and self.namespaces is not None:
                report = await install(client, self.spec, self.namespaces, self.where, str(info["version"]["number"]))
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
        rolled = {a.index for (r, a), _ in entries if r.entity in self.spec.ism.entities and a.index is not None}
        for alias in sorted(rolled - self._aliases_ready):
            await ensure_alias(client, alias, self.where)
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
                ) from None
            raise transport_error(exc, self.where, doing, self.spec.backpressure_seconds) from None
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
