"""The aggregate sinks of role ``aggregations``: for each target named in some aggregation's
``sinks:`` (``warehouse``, ``opensearch``), one sink app (consumer group
``<app_id without -ingest>-sink-agg-<target>``) reading the result topics
``<prefix>.aggregates.<name>`` of those aggregations, with the sink runner, retries, circuit
breaker and DLQ of every sink (:mod:`.sink_app`); only the parsing of a message differs
(:func:`~streamproc.sinks.aggregates.aggregate_record`)."""

from __future__ import annotations

from streamproc.aggregate import AggregationSpec
from streamproc.config.pipelines import PipelinesSpec
from streamproc.config.settings import Settings
from streamproc.config.sink_warehouse import WarehouseSpec
from streamproc.runtime.apps import StreamprocApp
from streamproc.runtime.metrics import SinkMetrics
from streamproc.runtime.sink_app import SinkRole, sink_app
from streamproc.sinks.aggregates import AggregateTable, aggregate_record
from streamproc.sinks.base import Sink

__all__ = ["AggregateSinkRole", "aggregate_table", "build_aggregate_sinks", "create_aggregate_sink_apps"]


class AggregateSinkRole(SinkRole):
    """A sink app's runtime reading aggregate results instead of clean events."""

    parse = staticmethod(aggregate_record)


def aggregate_table(spec: AggregationSpec) -> AggregateTable:
    """What the aggregate sinks need of one aggregation."""
    return AggregateTable(spec.name, spec.group_names, tuple((m.name, m.kind) for m in spec.metrics))


def build_aggregate_sinks(settings: Settings, spec: PipelinesSpec) -> list[tuple[Sink, list[AggregationSpec]]]:
    """Each aggregate sink with the aggregations it writes (constructed without connecting)."""
    specs = spec.aggregation_specs()
    out: list[tuple[Sink, list[AggregationSpec]]] = []
    warehouse = [a for a in specs if "warehouse" in a.sinks]
    if warehouse:
        from streamproc.sinks.warehouse.aggregates import AggregateWarehouseSink

        wspec = spec.sinks.warehouse or WarehouseSpec()
        tables = [aggregate_table(a) for a in warehouse]
        out.append((AggregateWarehouseSink(wspec, settings.warehouse, tables), warehouse))
    opensearch = [a for a in specs if "opensearch" in a.sinks]
    if opensearch:
        from streamproc.sinks.opensearch.aggregates import AggregateOpenSearchSink

        out.append((AggregateOpenSearchSink(settings.opensearch, [aggregate_table(a) for a in opensearch]), opensearch))
    return out


def create_aggregate_sink_apps(settings: Settings, spec: PipelinesSpec, metrics: SinkMetrics) -> list[StreamprocApp]:
    """One app per aggregate sink (the result topics exist: the aggregation app created them)."""
    apps = []
    for sink, aggs in build_aggregate_sinks(settings, spec):
        topics = [settings.aggregates_topic(a.name) for a in aggs]
        entities = [aggregate_table(a).entity for a in aggs]
        apps.append(
            sink_app("aggregations", sink, settings, metrics, topics, entities, web=False, role_type=AggregateSinkRole)
        )
    return apps
