"""Builds the Faust ingest app: one agent and one RocksDB table per source topic.

``faust -A streamproc.app worker -l info`` works because the module attribute ``app`` is built
lazily on first access (nothing is read at import time).

Per batch (taken from the topic's :class:`~streamproc.runtime.consumer.SourceBuffer`): every
message runs through :class:`Processor` against a local overlay of the table; clean events and
DLQ records are produced without awaiting; the producer is flushed once; then each touched key
goes to the changelog once, and after that flush into the local RocksDB partition, together with
the changelog offset, in one write per partition. So a crash at any point either leaves the
state without the batch (the batch is redelivered and re-emitted with the same positions, which
every consumer can drop) or with it, after its output is durable. Offsets are acknowledged only
after that.

On the embedded broker (tansu), which answers ListOffsets with the last record batch's base
offset + 1, the last changelog record of each partition is produced on its own after the others
are acknowledged, so that answer is the partition's exact end and a worker taking a partition
over recovers its table up to the last record (:meth:`BatchState.produce_changelog`). A crash
between the two flushes leaves a longer last batch; that batch's source records are not committed
and are processed again, but a standby replica that already read them is ahead of the reported
end, so Faust's ``recovery_consistency_check`` is off on the embedded broker (docs/CONFIGURATION.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Set as AbstractSet
from typing import Any, cast

from faust.types import TP, CollectionT, Message
from prometheus_client import CollectorRegistry

from streamproc.config.loader import load_pipelines
from streamproc.config.pipelines import PipelinesSpec
from streamproc.config.settings import Settings, load_settings
from streamproc.pipeline.dlq import dlq_headers
from streamproc.pipeline.origin import origin_header
from streamproc.pipeline.processor import DeadLetter, Dropped, Emit, Processor, RawMessage
from streamproc.pipeline.schema_drift import Change, DriftBatch
from streamproc.runtime.admin import ensure_topics
from streamproc.runtime.apps import (
    StreamprocApp,
    add_batch_agent,
    faust_app,
    group_settings,
    observe_lag,
    require_bootstrap,
)
from streamproc.runtime.audit_log import ensure_audit_topic
from streamproc.runtime.fetch_watch import install_fetch_watch
from streamproc.runtime.kafka_config import confluent_config
from streamproc.runtime.metrics import Metrics
from streamproc.runtime.processor import build_processor
from streamproc.runtime.producer import BatchProducer
from streamproc.runtime.retry import add_retry_agent
from streamproc.runtime.state import SCHEME as STATE_SCHEME
from streamproc.runtime.state import BatchState
from streamproc.runtime.web import install_web, watch_recovery

__all__ = ["create_app", "default_app", "IngestRuntime"]

log = logging.getLogger("streamproc.ingest")


class IngestRuntime:
    """The ingest role of one app: its source agents, the batch protocol and its totals."""

    def __init__(
        self, app: StreamprocApp, settings: Settings, processor: Processor, metrics: Metrics, embedded: bool = False
    ) -> None:
        self.app = app
        self.settings = settings
        self.processor = processor
        self.metrics = metrics
        self.producer = BatchProducer(settings.kafka_bootstrap or "", **confluent_config(settings))
        # The embedded broker reports a partition's end as its last batch's base offset + 1;
        # Faust's recovery trusts that end, so each partition's last changelog record goes alone.
        self.embedded = embedded
        self.totals: dict[str, int] = {"in": 0, "out": 0, "dropped": 0, "dlq": 0}
        self.ready = False
        #: source topic → its table, and the lock a source batch and a retry batch of it take in turn
        self.tables: dict[str, CollectionT] = {}
        self.locks: dict[str, asyncio.Lock] = {}

    def add_source(self, topic: str, partitions: int) -> None:
        app, s = self.app, self.settings
        table = app.Table(
            f"state-{topic}",
            partitions=partitions,
            key_type=bytes,
            value_type=bytes,
            help=f"last applied position and document per entity key of {topic}",
        )
        self.tables[topic] = table
        lock = self.locks[topic] = asyncio.Lock()

        async def handle(messages: list[Message]) -> None:
            async with lock:  # a retry batch of this topic's state runs in between, never during
                await self.handle_batch(topic, table, messages)

        add_batch_agent(app, s, topic, partitions, handle, name=f"streamproc.ingest.{topic}", what=f"a {topic} batch")

    def on_assigned(self, sender: Any, /, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        """After every rebalance (``app.on_partitions_assigned``, sent with the new assignment):
        log the source partitions this worker now owns, ``ingest partitions assigned:
        <topic>=0,2 <topic>=-`` (``-``: none)."""
        assigned = cast("AbstractSet[TP]", args[0])
        sources = sorted(t for t in self.app.source_buffers if t != self.settings.retry_topic)
        owned = {t: sorted(tp.partition for tp in assigned if tp.topic == t) for t in sources}
        text = " ".join(f"{t}={','.join(map(str, ps)) or '-'}" for t, ps in owned.items())
        log.info("ingest partitions assigned: %s", text)

    async def handle_batch(self, topic: str, table: CollectionT, messages: list[Message]) -> None:
        started = time.perf_counter()
        m = self.metrics
        state = BatchState(table)
        produce = self.producer.produce
        process = self.processor.process
        dlq_topic = self.settings.dlq_topic
        emitted: list[Emit] = []
        drift = DriftBatch(state, self.settings.schema_max_fields)
        changes: list[Change] = []
        dropped = dlq = 0
        for msg in messages:
            state.partition = msg.partition
            headers = cast("list[tuple[str, bytes]]", msg.headers or [])  # aiokafka's are a list
            raw = RawMessage(topic, msg.key, msg.value, headers, msg.partition, msg.offset)
            outcome = process(raw, state)
            if type(outcome) is Emit:
                outcome.headers.append(origin_header(topic, msg.partition, msg.offset))
                produce(outcome.topic, outcome.key, outcome.value, outcome.headers)
                emitted.append(outcome)
                if outcome.doc is not None:
                    changes += drift.observe(outcome.entity, outcome.doc)
            elif type(outcome) is Dropped:
                dropped += 1
                if outcome.entity is None and outcome.detail not in ("unrouted", "operation"):
                    m.events_skipped.labels(topic, outcome.detail or "").inc()
                else:
                    m.events_dropped.labels(outcome.entity or "", outcome.detail or outcome.reason).inc()
            elif type(outcome) is DeadLetter:
                dlq += 1
                produce(dlq_topic, msg.key, msg.value, dlq_headers(raw, outcome, self.settings.app_id))
                m.events_dlq.labels(topic, outcome.error_class).inc()
                log.warning(
                    "DLQ: %s/%s@%s %s at %s: %s",
                    topic,
                    msg.partition,
                    msg.offset,
                    outcome.error_class,
                    outcome.stage,
                    outcome.reason,
                )
        finish = asyncio.ensure_future(self.finish_batch(state, len(messages)))
        try:
            await asyncio.shield(finish)
        except asyncio.CancelledError:
            await finish  # shutting down: complete this batch before it is acknowledged
            raise
        now_ms = time.time() * 1000
        counts: dict[tuple[str, str], int] = {}
        newest: dict[str, float] = {}
        for e in emitted:
            counts[(e.entity, e.op)] = counts.get((e.entity, e.op), 0) + 1
            if e.warnings:
                m.events_warned.labels(e.entity).inc()
                for rule in e.warnings:
                    m.validation_warnings.labels(e.entity, rule).inc()
            if e.ts_ms is not None:
                m.latency.labels(e.entity).observe(max(0.0, (now_ms - e.ts_ms) / 1000))
                newest[e.entity] = max(newest.get(e.entity, 0.0), e.ts_ms)
        for (entity, op), n in counts.items():
            m.events_out.labels(entity, op).inc(n)
        for entity, ts_ms in newest.items():
            m.source_time.labels(entity).set(ts_ms / 1000)
        self._report_drift(topic, changes)
        m.events_in.labels(topic).inc(len(messages))
        observe_lag(self.app.consumer, messages, m.consumer_lag)
        m.batch_seconds.labels(topic).observe(time.perf_counter() - started)
        t = self.totals
        t["in"] += len(messages)
        t["out"] += len(emitted)
        t["dropped"] += dropped
        t["dlq"] += dlq

    def _report_drift(self, topic: str, changes: list[Change]) -> None:
        """Count and log the batch's schema changes, once its state (which records them) is written."""
        for c in changes:
            self.metrics.schema_changes.labels(c.entity, c.kind).inc()
            if c.kind == "capped":
                log.warning(
                    "schema drift: %s reached %d tracked fields (STREAMPROC_SCHEMA_MAX_FIELDS); new fields are "
                    "no longer tracked",
                    c.entity,
                    self.settings.schema_max_fields,
                )
            else:
                log.info(
                    "schema drift: %s %s %r (%s) on %s",
                    c.entity,
                    c.kind.replace("_", " "),
                    c.field,
                    "→".join(c.types),
                    topic,
                )

    async def finish_batch(self, state: BatchState, size: int) -> None:
        """Flush the batch's output, then its changelog, then write its state (module docstring)."""
        producer = self.producer
        await producer.flush()  # the batch's clean events and DLQ records are durable …
        hold = self.settings.test_hold_after_output
        if hold:
            log.warning(
                "test hook: a batch of %d messages held %.1fs after its output was acknowledged, "
                "before its state and offsets are written",
                size,
                hold,
            )
            await asyncio.sleep(hold)
        last = state.produce_changelog(producer, last_apart=self.embedded)  # … before its state is recorded
        await producer.flush()
        if last:
            state.produce_last(producer, last)
            await producer.flush()
        state.write(producer.take_acked(state.changelog))


def create_app(
    settings: Settings | None = None,
    spec: PipelinesSpec | None = None,
    registry: CollectorRegistry | None = None,
    web: bool = True,
) -> StreamprocApp:
    """Build the ingest app; creates missing topics (clean topics, DLQ, sources) with explicit configs.
    ``web`` installs /metrics, /livez and /readyz (for a process running this role alone)."""
    settings = settings or load_settings()
    bootstrap = require_bootstrap(settings)
    spec = spec if spec is not None else load_pipelines(settings.pipelines)
    processor = build_processor(settings, spec)
    sources = spec.topics(settings.source_topic_prefix)
    outputs = [settings.clean_topic(s.entity) for s in spec.sources] + [settings.dlq_topic]
    counts = ensure_topics(
        bootstrap,
        sources + outputs + [settings.retry_topic],
        settings.partitions,
        settings.replication_factor,
        client=confluent_config(settings),
    )
    ensure_audit_topic(settings)  # retry outcomes are reported there
    group_conf, embedded = group_settings(settings)
    if embedded:
        log.info("embedded broker detected: each partition's last changelog record sent alone, short group timeouts")
    app = faust_app(
        settings.app_id,
        settings,
        bootstrap,
        store=f"{STATE_SCHEME}://",
        web=web,
        group=group_conf,
        topic_allow_declare=True,
        producer_acks=-1,
        # The embedded broker: a standby replica that read a crashed owner's partial changelog
        # flush can be ahead of the end the broker reports (module docstring); that state is the
        # state of a batch whose output is durable, so Faust's refusal would be wrong.
        recovery_consistency_check=not embedded,
    )
    metrics = Metrics(registry)
    runtime = IngestRuntime(app, settings, processor, metrics, embedded)
    app.streamproc = runtime
    app.on_partitions_assigned.connect(runtime.on_assigned)  # a weak reference: the runtime lives with the app
    for topic in sources:
        runtime.add_source(topic, counts[topic])
    watch_recovery(app, metrics)
    install_fetch_watch(app, metrics.fetch_reseeks)
    add_retry_agent(runtime, counts[settings.retry_topic])
    if web:
        install_web(app, metrics.registry)

    @app.timer(interval=10.0)
    async def progress() -> None:
        t = runtime.totals
        log.info("progress: in=%d out=%d dropped=%d dlq=%d", t["in"], t["out"], t["dropped"], t["dlq"])

    return app


_app: StreamprocApp | None = None


def default_app() -> StreamprocApp:
    """The ingest app from the settings, built once (``faust -A streamproc.app``)."""
    global _app
    if _app is None:
        _app = create_app()
    return _app
