"""The aggregate OpenSearch sink: one index ``agg_<name>`` per aggregation, one document per
(group, window), written from ``<prefix>.aggregates.<name>`` (records from
:func:`streamproc.sinks.aggregates.aggregate_record`).

Document id: the result's Kafka key (canonical JSON of aggregation, group and window start);
body: the result value; every action ``version_type=external_gte`` with ``version`` = the
revision, so OpenSearch itself refuses a lower revision (409, counted as done) and a redelivered
result (equal revision, equal value) rewrites the same content. Item outcomes are classified by
the entity sink's :func:`~streamproc.sinks.opensearch.bulk.item_outcome`; the client and the
mapping of failed requests are the entity sink's too (``client.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import TransportError

from streamproc.errors import FatalSinkError, RetriableSinkError, SinkBackpressure
from streamproc.jsonutil import dumps, dumps_str
from streamproc.sinks.aggregates import AggregateTable
from streamproc.sinks.base import Sink, SinkBatch, SinkRecord
from streamproc.sinks.opensearch.bulk import item_outcome
from streamproc.sinks.opensearch.client import cluster_info, host_port, make_client, transport_error
from streamproc.sinks.opensearch.version import MAX_VERSION

if TYPE_CHECKING:
    from streamproc.config.settings import OpenSearchSettings

__all__ = ["AggregateOpenSearchSink", "aggregate_action"]


def aggregate_action(record: SinkRecord) -> dict[str, Any]:
    """The bulk action of one result (pure; what ``dry-run`` would print)."""
    doc_id = record.raw_key.decode("utf-8", "replace") if record.raw_key else dumps_str(sorted(record.key.items()))
    version = min(max(record.position[0], 1), MAX_VERSION)
    return {"index": {"_index": record.entity, "_id": doc_id, "version": version, "version_type": "external_gte"}}


class AggregateOpenSearchSink(Sink):
    """Indexes aggregate results into ``agg_<name>`` indices (see the module docstring)."""

    name = "agg-opensearch"

    def __init__(self, settings: OpenSearchSettings, tables: Iterable[AggregateTable]) -> None:
        self.settings = settings
        self.entities = {t.entity for t in tables}
        self.where = host_port(settings.url)
        self._client: AsyncOpenSearch | None = None

    def wants(self, record: SinkRecord) -> bool:
        return record.entity in self.entities

    def plan(self, records: list[SinkRecord]) -> list[dict[str, Any]]:
        return [{"kind": "opensearch", **aggregate_action(r)["index"], "op": "index"} for r in records if self.wants(r)]

    async def start(self) -> None:
        client = make_client(self.settings)
        try:
            await cluster_info(client, self.where)
        except BaseException:
            await client.close()
            raise
        self._client = client

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def write(self, batch: SinkBatch) -> None:
        client = self._client
        if client is None:
            raise FatalSinkError("aggregate opensearch sink: write() called before start()")
        records = [r for r in batch.records if self.wants(r)]
        if not records:
            return
        body = b"".join(dumps(aggregate_action(r)) + b"\n" + dumps(r.doc) + b"\n" for r in records)
        doing = f"a bulk request of {len(records)} aggregate results"
        try:
            resp = await client.bulk(body=body)
        except TransportError as exc:
            raise transport_error(exc, self.where, doing) from None
        items = resp.get("items") if isinstance(resp, dict) else None
        if not isinstance(items, list) or len(items) != len(records):
            raise RetriableSinkError(f"OpenSearch at {self.where} answered {doing} with a wrong item count")
        for record, item in zip(records, items, strict=True):
            ((op_type, result),) = item.items()
            outcome = item_outcome(op_type, result)
            if outcome.kind == "fail":
                batch.fail(record, f"{outcome.reason} (index {record.entity})")
            elif outcome.kind == "throttled":
                raise SinkBackpressure(f"OpenSearch at {self.where} throttled {doing} ({outcome.reason})")
            elif outcome.kind == "retry":
                raise RetriableSinkError(f"OpenSearch at {self.where} failed {doing} ({outcome.reason})")
            elif outcome.kind == "fatal":
                raise FatalSinkError(f"OpenSearch at {self.where}, index {record.entity}: {outcome.reason}")
