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
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import faust
from rocksdict import WriteBatch

from streamproc.config.settings import Settings, load_pipelines, load_settings
from streamproc.errors import ConfigError, FatalSinkError, ServiceUnavailable
from streamproc.pipeline.dlq import dlq_headers
from streamproc.pipeline.processor import DeadLetter, Dropped, Emit, Processor, RawMessage
from streamproc.runtime import consumer as faust_consumer
from streamproc.runtime.admin import ensure_topics, is_embedded
from streamproc.runtime.metrics import CONTENT_TYPE, Metrics
from streamproc.runtime.producer import BatchProducer, WatermarkReader

__all__ = [
    "create_app",
    "build_processor",
    "IngestRuntime",
    "fail_stop",
    "faust_app",
    "group_settings",
    "install_web",
    "observe_lag",
    "require_bootstrap",
]

log = logging.getLogger("streamproc.ingest")


def build_processor(settings: Settings, spec: Any, fmt: str | None = None) -> Processor:
    """The pipeline shared by the worker and ``dry-run``."""
    from streamproc.sources import Decoder

    registry = None
    if settings.schema_registry_url:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        registry = SchemaRegistryClient({"url": settings.schema_registry_url})
    formats: dict[str, str] = {}
    key_fields: dict[str, list[str]] = {}
    for src in spec.sources:
        for topic in src.source_topics(settings.source_topic_prefix):
            if src.format:
                formats[topic] = src.format
            key_fields[topic] = list(src.key)
    decoder = Decoder(formats=formats, schema_registry=registry, key_fields=key_fields)
    return Processor(spec, decoder, settings.redaction_key(), settings.topic_prefix, fmt=fmt)


class _BatchState:
    """Table view for one batch: reads fall through to the RocksDB partition of the message being
    processed (``partition``), writes stay local until :meth:`write`."""

    __slots__ = ("store", "changelog", "overlay", "partition", "_dbs")

    def __init__(self, table: Any) -> None:
        self.store = table.data
        self.changelog: str = table.changelog_topic.get_topic_name()
        self.overlay: dict[bytes, tuple[int, bytes]] = {}
        self.partition = 0
        self._dbs: dict[int, Any] = {}

    def _db(self, partition: int) -> Any:
        db = self._dbs.get(partition)
        if db is None:
            db = self._dbs[partition] = self.store._db_for_partition(partition)
        return db

    def get(self, key: bytes) -> bytes | None:
        hit = self.overlay.get(key)
        if hit is not None:
            return hit[1]
        return self._db(self.partition).get(key)

    def set(self, key: bytes, value: bytes) -> None:
        self.overlay[key] = (self.partition, value)

    def produce_changelog(self, producer: BatchProducer) -> None:
        """Each touched key once, to the changelog partition of its source partition (as Faust
        would), through our producer, which batches far more cheaply than Faust's per-record send."""
        produce, changelog = producer.produce, self.changelog
        for key, (partition, value) in self.overlay.items():
            produce(changelog, key, value, partition=partition)

    def write(self, acked: dict[int, int]) -> None:
        """Into the local store, one write per partition: the batch's keys and the changelog
        offset they reached (``acked``), which Faust's recovery resumes from, as its own send
        callback would record it."""
        batches: defaultdict[int, Any] = defaultdict(lambda: WriteBatch(raw_mode=True))
        for key, (partition, value) in self.overlay.items():
            batches[partition].put(key, value)
        offset_key = self.store.offset_key
        for partition, offset in acked.items():
            batches[partition].put(offset_key, str(offset).encode())
        for partition, wb in batches.items():
            self._db(partition).write(wb)


def fail_stop(where: str, exc: BaseException, code: int = 70) -> None:
    """Exit at once, like SIGKILL. Faust's ``take_events`` acknowledges a batch even when the loop
    body raised, and a normal shutdown would commit those offsets although the batch's output is
    not durable. Exiting without shutdown leaves the offsets and the state where the last good
    batch put them; the batch is redelivered on restart, as after the SIGKILL of the crash test."""
    readable = (ServiceUnavailable, ConfigError, FatalSinkError)
    detail = str(exc) if isinstance(exc, readable) else "unexpected error"  # others may hold data
    log.critical(
        "stopping the worker: %s failed (%s: %s); unacknowledged batches are redelivered on restart",
        where,
        type(exc).__name__,
        detail,
    )
    logging.shutdown()
    os._exit(code)


class IngestRuntime:
    def __init__(
        self, app: faust.App, settings: Settings, processor: Processor, metrics: Metrics, embedded: bool = False
    ) -> None:
        self.app = app
        self.settings = settings
        self.processor = processor
        self.metrics = metrics
        self.producer = BatchProducer(settings.kafka_bootstrap or "")
        # The embedded broker reports a partition's end as its last batch's base offset + 1;
        # Faust's recovery trusts that end, so the offsets we persist are capped by it.
        self.watermarks = WatermarkReader(settings.kafka_bootstrap or "") if embedded else None
        self.totals: dict[str, int] = {"in": 0, "out": 0, "dropped": 0, "dlq": 0}
        self.ready = False

    def add_source(self, topic: str, partitions: int) -> None:
        app, s = self.app, self.settings
        table = app.Table(
            f"state-{topic}",
            partitions=partitions,
            key_type=bytes,
            value_type=bytes,
            help=f"last applied position and document per entity key of {topic}",
        )
        channel = app.topic(topic, key_serializer="raw", value_serializer="raw", partitions=partitions)
        buffer = faust_consumer.buffer_for(app, topic)

        async def ingest(stream: Any) -> None:
            # The agent subscribes the topic and owns the table's partitions; its messages skip
            # the stream and arrive in ``buffer`` (faust_consumer), taken here in batches.
            consumer = app.consumer
            while True:
                messages = await buffer.take(s.batch_size, s.batch_within)
                if not messages:
                    continue
                faust_consumer.track(consumer, messages)
                try:
                    await self.handle_batch(topic, table, messages)
                except asyncio.CancelledError:
                    raise  # handle_batch completed its flush and state write first: acknowledged below
                except BaseException as exc:  # noqa: BLE001 - fail-stop: exits, nothing is acknowledged
                    fail_stop(f"a {topic} batch", exc)
                finally:
                    faust_consumer.ack(consumer, messages)

        ingest.__name__ = f"ingest_{topic}".replace(".", "_").replace("-", "_")
        app.agent(channel, name=f"streamproc.ingest.{topic}")(ingest)

    async def handle_batch(self, topic: str, table: Any, messages: list[Any]) -> None:
        started = time.perf_counter()
        m = self.metrics
        state = _BatchState(table)
        produce = self.producer.produce
        process = self.processor.process
        dlq_topic = self.settings.dlq_topic
        emitted: list[Emit] = []
        dropped = dlq = 0
        for msg in messages:
            state.partition = msg.partition
            raw = RawMessage(topic, msg.key, msg.value, msg.headers or [], msg.partition, msg.offset)
            outcome = process(raw, state)
            if type(outcome) is Emit:
                produce(outcome.topic, outcome.key, outcome.value, outcome.headers)
                emitted.append(outcome)
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
        finish = asyncio.ensure_future(self._finish(state))
        try:
            await asyncio.shield(finish)
        except asyncio.CancelledError:
            await finish  # shutting down: complete this batch before it is acknowledged
            raise
        now_ms = time.time() * 1000
        counts: dict[tuple[str, str], int] = {}
        for e in emitted:
            counts[(e.entity, e.op)] = counts.get((e.entity, e.op), 0) + 1
            if e.ts_ms is not None:
                m.latency.labels(e.entity).observe(max(0.0, (now_ms - e.ts_ms) / 1000))
        for (entity, op), n in counts.items():
            m.events_out.labels(entity, op).inc(n)
        m.events_in.labels(topic).inc(len(messages))
        observe_lag(self.app.consumer, messages, m.consumer_lag)
        m.batch_seconds.labels(topic).observe(time.perf_counter() - started)
        t = self.totals
        t["in"] += len(messages)
        t["out"] += len(emitted)
        t["dropped"] += dropped
        t["dlq"] += dlq

    async def _finish(self, state: _BatchState) -> None:
        await self.producer.flush()  # the batch's clean events and DLQ records are durable …
        state.produce_changelog(self.producer)  # … before its state is recorded
        await self.producer.flush()
        acked = self.producer.take_acked(state.changelog)
        if self.watermarks is not None and acked:
            acked = await asyncio.to_thread(self.watermarks.cap, state.changelog, acked)
        state.write(acked)


def observe_lag(consumer: Any, messages: Iterable[Any], gauge: Any, *labels: str) -> None:
    """Set ``gauge`` (labels ``*labels, topic, partition``) to high watermark minus next offset
    for each partition of the batch."""
    last: dict[Any, int] = {}
    for msg in messages:
        last[msg.tp] = msg.offset
    for tp, offset in last.items():
        hw = consumer.highwater(tp)
        if hw is not None:
            gauge.labels(*labels, tp.topic, str(tp.partition)).set(max(0, hw - offset - 1))


def group_settings(settings: Settings) -> tuple[dict[str, Any], bool]:
    """Consumer-group timeouts, shortened on the embedded broker (a single local member needs no
    long rebalance windows); and whether the broker is the embedded one."""
    group = {
        "broker_session_timeout": settings.session_timeout,
        "broker_rebalance_timeout": settings.rebalance_timeout,
        "broker_heartbeat_interval": settings.heartbeat_interval,
    }
    embedded = is_embedded(settings.kafka_bootstrap or "")
    if embedded:
        group.update(broker_session_timeout=10.0, broker_rebalance_timeout=10.0, broker_heartbeat_interval=1.0)
    return group, embedded


def require_bootstrap(settings: Settings) -> str:
    if not settings.kafka_bootstrap:
        raise ConfigError(
            "STREAMPROC_KAFKA_BOOTSTRAP is not set: point it at Kafka, or run `streamproc dev` "
            "to use the embedded local broker"
        )
    return settings.kafka_bootstrap


def install_web(app: faust.App, registry: Any) -> None:
    """/metrics (``registry``: every role of this process), /livez, /readyz (every app in
    ``app.web_apps`` — extend it with the other apps of the process — assigned and recovered)."""
    from prometheus_client import generate_latest

    apps = [app]

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(registry), content_type=CONTENT_TYPE)

    @app.page("/livez")
    async def livez(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        ready = all(
            bool(a.consumer.assignment())
            and not a.rebalancing
            and not a.in_recovery
            and a.tables.recovery.completed.is_set()
            for a in apps
        )
        return web.json({"ready": ready}, status=200 if ready else 503)

    app.web_apps = apps  # type: ignore[attr-defined]


def faust_app(
    app_id: str, settings: Settings, bootstrap: str, *, store: str, web: bool, group: dict[str, Any], **extra: Any
) -> faust.App:
    """A Faust app as every role configures it (raw bytes, our batch-drain consumer, no table or
    router pages); ``extra`` adds role-specific settings."""
    app = faust.App(
        app_id,
        broker=[f"kafka://{h.strip()}" for h in bootstrap.split(",")],
        store=store,
        datadir=str(settings.datadir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.commit_interval,
        broker_max_poll_records=5000,
        stream_buffer_maxsize=20000,
        web_enabled=web,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_tables_enabled=False,  # the state is redacted, but it is no public API
        web_router_enabled=False,
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",  # tables hold bytes we encode ourselves
        **group,
        **extra,
    )
    faust_consumer.install(app)
    return app


def create_app(settings: Settings | None = None, spec: Any = None, registry: Any = None, web: bool = True) -> faust.App:
    """Build the ingest app; creates missing topics (clean topics, DLQ, sources) with explicit configs.
    ``web`` installs /metrics, /livez and /readyz (for a process running this role alone)."""
    settings = settings or load_settings()
    bootstrap = require_bootstrap(settings)
    spec = spec if spec is not None else load_pipelines(settings.pipelines)
    processor = build_processor(settings, spec)
    sources = spec.topics(settings.source_topic_prefix)
    outputs = [settings.clean_topic(s.entity) for s in spec.sources] + [settings.dlq_topic]
    counts = ensure_topics(bootstrap, sources + outputs, settings.partitions, settings.replication_factor)
    group_conf, embedded = group_settings(settings)
    if embedded:
        log.info("embedded broker detected: persisted changelog offsets capped, short group timeouts")
    app = faust_app(
        settings.app_id,
        settings,
        bootstrap,
        store="rocksdb://",
        web=web,
        group=group_conf,
        topic_allow_declare=True,
        producer_acks=-1,
    )
    metrics = Metrics(registry)
    runtime = IngestRuntime(app, settings, processor, metrics, embedded)
    app.streamproc = runtime  # type: ignore[attr-defined]
    for topic in sources:
        runtime.add_source(topic, counts[topic])
    if web:
        install_web(app, metrics.registry)

    @app.timer(interval=10.0)
    async def progress() -> None:
        t = runtime.totals
        log.info("progress: in=%d out=%d dropped=%d dlq=%d", t["in"], t["out"], t["dropped"], t["dlq"])

    return app


_app: faust.App | None = None


def default_app() -> faust.App:
    """The ingest app from the settings, built once (``faust -A streamproc.app``)."""
    global _app
    if _app is None:
        _app = create_app()
    return _app
