"""Builds the Faust app of role ``aggregations``: windowed aggregations of the ``aggregations:``
list of the pipelines file (issue 11), consumer group ``<app_id without -ingest>-aggregations``.

Topology per aggregation ``<name>`` of entity ``<entity>`` (docs/ARCHITECTURE.md)::

    <prefix>.events.<entity>  --(upstream agent, keyed by entity key; table agg-up-<entity>)-->
    <app_id>-agg-<name>-repartition  --(downstream agent, keyed by group; table agg-<name>)-->
    <prefix>.aggregates.<name>  and  <prefix>.aggregates.late

One upstream agent per clean topic runs every aggregation of its entity
(:mod:`.agg_upstream`); one downstream agent per aggregation (:mod:`.agg_downstream`). Both take
their messages in batches from the batch-drain consumer (:mod:`.consumer`), keep their state in
:class:`~streamproc.runtime.state.BatchStore` tables with changelogs, and record a batch only
after its output is durable (:meth:`AggregationRuntime.finish`). A timer checks for idle clean
partitions and flushes ``emit: updates`` every ``aggregations.tick_interval`` seconds.
The aggregate sinks (warehouse, OpenSearch) run in the same process (:mod:`.agg_sinks`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Set as AbstractSet
from typing import Any, cast

from faust.types import TP
from prometheus_client import CollectorRegistry

from streamproc.aggregate import AggregationSpec
from streamproc.config.pipelines import PipelinesSpec
from streamproc.config.settings import Settings
from streamproc.runtime.admin import ensure_topics
from streamproc.runtime.agg_downstream import DownstreamRuntime
from streamproc.runtime.agg_names import aggregation_app_id, downstream_table, repartition_topic, upstream_table
from streamproc.runtime.agg_state import AggBatch
from streamproc.runtime.agg_upstream import UpstreamRuntime
from streamproc.runtime.apps import (
    StreamprocApp,
    add_batch_agent,
    fail_stop,
    faust_app,
    group_settings,
    require_bootstrap,
)
from streamproc.runtime.fetch_watch import install_fetch_watch
from streamproc.runtime.kafka_config import confluent_config
from streamproc.runtime.metrics import AggregationMetrics
from streamproc.runtime.producer import BatchProducer
from streamproc.runtime.state import SCHEME as STATE_SCHEME
from streamproc.runtime.web import install_web

__all__ = ["AggregationRuntime", "create_aggregation_app", "aggregation_app_id", "HELD"]

log = logging.getLogger("streamproc.aggregations")

#: the log line of the test hook (``STREAMPROC_TEST_HOLD_AFTER_OUTPUT``)
HELD = "test hook: an aggregation batch of "


class AggregationRuntime:
    """The aggregation role of one app: its agents' runtimes, producer, metrics, batch protocol."""

    def __init__(
        self,
        app: StreamprocApp,
        settings: Settings,
        metrics: AggregationMetrics,
        repartitions: dict[str, int],
        embedded: bool,
    ) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        #: aggregation → its repartition topic's partition count
        self.repartitions = repartitions
        self.embedded = embedded
        self.producer = BatchProducer(settings.kafka_bootstrap or "", **confluent_config(settings))
        self.upstreams: dict[str, UpstreamRuntime] = {}
        self.downstreams: dict[str, DownstreamRuntime] = {}
        self.ready = True

    def repartition_topic(self, name: str) -> str:
        return repartition_topic(self.settings, name)

    def broadcast(self, name: str, value: bytes) -> None:
        """``value`` (a tick) to every partition of the aggregation's repartition topic."""
        topic = self.repartition_topic(name)
        for p in range(self.repartitions[name]):
            self.producer.produce(topic, b"tick", value, partition=p)

    async def finish(self, batch: AggBatch, size: int) -> None:
        """The batch protocol: output durable, then the changelog, then state + changelog offset
        (one write per partition); shielded, so a shutdown completes it."""
        task = asyncio.ensure_future(self._finish(batch, size))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await task
            raise

    async def _finish(self, batch: AggBatch, size: int) -> None:
        producer = self.producer
        await producer.flush()
        hold = self.settings.test_hold_after_output
        if hold and size:
            log.warning("%s%d messages held %.1fs after its output was acknowledged", HELD, size, hold)
            await asyncio.sleep(hold)
        last = batch.produce_changelog(producer, last_apart=self.embedded)
        await producer.flush()
        if last:
            batch.produce_last(producer, last)
            await producer.flush()
        batch.write(producer.take_acked(batch.changelog))

    def on_assigned(self, sender: Any, /, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        """After every rebalance: each agent learns the partitions it owns now."""
        assigned = cast("AbstractSet[TP]", args[0])
        for topic, up in self.upstreams.items():
            up.assigned({tp.partition for tp in assigned if tp.topic == topic})
        for down in self.downstreams.values():
            down.owned = {tp.partition for tp in assigned if tp.topic == down.topic}
        log.info("aggregation partitions assigned: %d", len(assigned))

    def add_agent(self, topic: str, partitions: int, handle: Any, name: str) -> None:
        """A batch agent on ``topic`` whose batches go to ``handle`` (fail-stop on any error)."""
        add_batch_agent(
            self.app,
            self.settings,
            topic,
            partitions,
            handle,
            name=f"streamproc.aggregations.{name}",
            what=f"an aggregation batch of {topic}",
        )


def create_aggregation_app(
    settings: Settings, spec: PipelinesSpec, registry: CollectorRegistry | None = None, web: bool = True
) -> StreamprocApp:
    """The aggregation app; creates missing clean, repartition, output and late topics."""
    bootstrap = require_bootstrap(settings)
    specs: list[AggregationSpec] = spec.aggregation_specs()
    clean = sorted({settings.clean_topic(a.entity) for a in specs})
    runtime_id = aggregation_app_id(settings)
    repartition = [repartition_topic(settings, a.name) for a in specs]
    outputs = [settings.aggregates_topic(a.name) for a in specs] + [settings.aggregates_late_topic]
    counts = ensure_topics(
        bootstrap,
        clean + repartition + outputs,
        settings.partitions,
        settings.replication_factor,
        client=confluent_config(settings),
    )
    group_conf, embedded = group_settings(settings)
    app = faust_app(
        runtime_id,
        settings,
        bootstrap,
        store=f"{STATE_SCHEME}://",
        web=web,
        group=group_conf,
        topic_allow_declare=True,
        producer_acks=-1,
        recovery_consistency_check=not embedded,  # as the ingest app (runtime/ingest.py)
    )
    metrics = AggregationMetrics(registry)
    repartitions = {a.name: counts[repartition_topic(settings, a.name)] for a in specs}
    runtime = AggregationRuntime(app, settings, metrics, repartitions, embedded)
    app.streamproc = runtime
    app.on_partitions_assigned.connect(runtime.on_assigned)  # a weak reference: the runtime lives with the app
    for topic in clean:
        mine = [a for a in specs if settings.clean_topic(a.entity) == topic]
        table = app.Table(upstream_table(mine[0].entity), partitions=counts[topic], key_type=bytes, value_type=bytes)
        up = runtime.upstreams[topic] = UpstreamRuntime(runtime, topic, mine, table)
        runtime.add_agent(topic, counts[topic], up.handle_batch, f"up.{mine[0].entity}")
    for a in specs:
        topic = runtime.repartition_topic(a.name)
        table = app.Table(downstream_table(a.name), partitions=counts[topic], key_type=bytes, value_type=bytes)
        down = runtime.downstreams[a.name] = DownstreamRuntime(
            runtime, a, table, counts[settings.clean_topic(a.entity)]
        )
        runtime.add_agent(topic, counts[topic], down.handle_batch, f"down.{a.name}")
    install_fetch_watch(app, metrics.fetch_reseeks)
    if web:
        install_web(app, metrics.registry)

    @app.timer(interval=settings.aggregations.tick_interval)
    async def idle_and_updates() -> None:
        try:
            for up in runtime.upstreams.values():
                await up.idle_ticks()
            for down in runtime.downstreams.values():
                await down.flush_updates()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - fail-stop, as a failed batch
            fail_stop("an aggregation tick", exc)

    return app
