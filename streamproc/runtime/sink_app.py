"""Builds the Faust apps of a sink role: one app per sink, each with its own consumer group on the
clean topics (``<app_id without -ingest>-sink-<sink name>``: ``-sink-s3`` and ``-sink-s3-archive``
in role ``s3``, ``-sink-opensearch``, ``-sink-warehouse``, ``-sink-eventbridge``), so one sink's outage never holds
another — not even the two sinks of role ``s3`` — and each can be replayed alone (reset that
group's offsets).

Per sink, one agent reads every clean topic in batches (``take_events``, by count and time;
:class:`SinkRunner` splits by bytes). A batch's offsets are acknowledged when the loop body
returns, which is after the sink wrote it durably and its DLQ records were flushed. A sink's
start-up is a task of its app: a transient failure is waited out (the runner retries it, /readyz
and ``streamproc_sink_ready`` say not ready, the other apps of the process run on); a fatal
configuration error or a bug stops the process at once, before any acknowledgement, and an
unacknowledged batch is redelivered on restart.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Callable, Collection, Sequence
from typing import Any, cast

from faust import Stream
from faust.types import TP, EventT, StreamT

from streamproc.config.pipelines import PipelinesSpec
from streamproc.config.settings import Settings
from streamproc.errors import ConfigError, DecodeError, ExitCode, FatalSinkError
from streamproc.pipeline.dlq import dlq_headers
from streamproc.pipeline.processor import DeadLetter, RawMessage
from streamproc.runtime.apps import StreamprocApp, fail_stop, faust_app, group_settings, observe_lag, require_bootstrap
from streamproc.runtime.kafka_config import confluent_config
from streamproc.runtime.metrics import SinkMetrics
from streamproc.runtime.producer import BatchProducer
from streamproc.runtime.roles import build_sinks
from streamproc.runtime.web import install_web
from streamproc.sinks.base import Sink, SinkFailure, SinkRecord, record_from_message
from streamproc.sinks.runner import SinkRunner

__all__ = ["create_sink_apps", "sink_app", "sink_fail_stop", "SinkRole", "PartitionGate"]

log = logging.getLogger("streamproc.sink")


def _window(sink: Sink, settings: Settings) -> tuple[int, float, int]:
    """(max records, max seconds, max bytes) of one sink's batches: its own, else the settings'."""
    conf = settings.sink
    return sink.batch_limits or (conf.batch_records, conf.batch_seconds, conf.batch_bytes)


def _timestamp_ms(seconds: float | None) -> int | None:
    """A Faust message's timestamp (seconds, from the Kafka record's milliseconds) as epoch ms."""
    return round(seconds * 1000) if isinstance(seconds, (int, float)) and seconds > 0 else None


def sink_fail_stop(where: str, exc: BaseException) -> None:
    """Exit at once, before the batch is acknowledged (see :func:`~streamproc.runtime.apps.fail_stop`):
    ``ExitCode.CONFIG`` when the sink's configuration is wrong, else ``ExitCode.SOFTWARE``."""
    code = ExitCode.CONFIG if isinstance(exc, (FatalSinkError, ConfigError)) else ExitCode.SOFTWARE
    fail_stop(where, exc, code=code)


async def _finish_or_leave(task: asyncio.Future[Any], role: str, grace: float = 10.0) -> None:
    """On shutdown, let a batch in flight finish; one still retrying after ``grace`` seconds is
    left unacknowledged by exiting now (it is redelivered), never acknowledged half-written."""
    try:
        await asyncio.wait_for(asyncio.shield(task), grace)
    except BaseException:  # noqa: BLE001 - timeout, or the batch failed: it must not be acknowledged
        log.warning("%s: shutting down with a batch not written; it is redelivered on restart", role)
        logging.shutdown()
        os._exit(ExitCode.OK)


class PartitionGate:
    """Pause and resume of one consumer's partitions, reference-counted across the runners that
    share it: paused while any runner holds the gate, resumed when the last one releases it."""

    def __init__(self, pause_all: Callable[[], None], resume_all: Callable[[], None]) -> None:
        self._pause_all = pause_all
        self._resume_all = resume_all
        self.holders: set[str] = set()

    def hold(self, name: str) -> None:
        if not self.holders:
            self._pause_all()
        self.holders.add(name)

    def release(self, name: str) -> None:
        if name in self.holders:
            self.holders.discard(name)
            if not self.holders:
                self._resume_all()


class SinkRole:
    """The runtime of one sink app: its runners (one per app as built here), DLQ producer,
    metrics, and the reference-counted pause/resume of its consumer's partitions."""

    def __init__(
        self,
        app: StreamprocApp,
        role: str,
        settings: Settings,
        sinks: list[Sink],
        metrics: SinkMetrics,
        topics: list[str],
        entities: Collection[str] | None = None,
    ) -> None:
        self.app = app
        self.role = role
        self.settings = settings
        self.metrics = metrics
        self.topics = topics
        self.producer = BatchProducer(settings.kafka_bootstrap or "", **confluent_config(settings))
        self.gate = PartitionGate(self.pause, self.resume)
        self.runners: list[SinkRunner] = []
        for sink in sinks:
            records, _, size = _window(sink, settings)
            self.runners.append(
                SinkRunner(
                    sink,
                    settings.sink,
                    metrics,
                    self.dead_letter,
                    pause=functools.partial(self.gate.hold, sink.name),
                    resume=functools.partial(self.gate.release, sink.name),
                    max_records=records,
                    max_bytes=size,
                    entities=entities,
                )
            )
        self.totals: dict[str, int] = {r.sink.name: 0 for r in self.runners}

    @property
    def started(self) -> bool:
        """Whether every sink of this app has started (``/readyz`` reports not ready until then)."""
        return all(r.started for r in self.runners)

    def _assigned(self) -> set[TP]:
        topics = set(self.topics)
        return {tp for tp in self.app.consumer.assignment() if tp.topic in topics}

    def pause(self) -> None:
        tps = self._assigned()
        if tps:
            self.app.consumer.pause_partitions(tps)
            log.info("%s: paused %d partitions while the target is unavailable", self.app.conf.id, len(tps))

    def resume(self) -> None:
        tps = self._assigned()
        if tps:
            self.app.consumer.resume_partitions(tps)
            log.info("%s: resumed %d partitions", self.app.conf.id, len(tps))

    def _to_dlq(self, raw: RawMessage, dl: DeadLetter) -> None:
        """The original bytes and headers, plus the Connect-style error headers (not awaited)."""
        self.producer.produce(self.settings.dlq_topic, raw.key, raw.value, dlq_headers(raw, dl, self.app.conf.id))
        log.warning("DLQ: %s/%s@%s at %s: %s", raw.topic, raw.partition, raw.offset, dl.stage, dl.reason)

    def dead_letter(self, failure: SinkFailure, sink: str) -> None:
        r = failure.record
        self._to_dlq(
            RawMessage(r.topic, r.raw_key, r.raw_value, list(r.headers), r.partition, r.offset),
            DeadLetter(failure.error_class, failure.reason, f"sink {sink}", "SinkError"),
        )

    #: parses one consumed message into a record (clean events; the aggregate sinks read results)
    parse = staticmethod(record_from_message)

    def records(self, events: Sequence[EventT[bytes]], sink: str) -> list[SinkRecord]:
        """Parse clean events; one that is not one goes to the DLQ (once per sink that read it)."""
        out = []
        parse = self.parse
        for ev in events:
            m = ev.message
            headers = cast("list[tuple[str, bytes]]", list(m.headers or ()))  # aiokafka's are pairs
            try:
                out.append(parse(m.topic, m.partition, m.offset, m.key, m.value, headers, _timestamp_ms(m.timestamp)))
            except DecodeError as exc:
                self._to_dlq(
                    RawMessage(m.topic, m.key, m.value, headers, m.partition, m.offset),
                    DeadLetter("poison", str(exc), f"sink {sink} read", "DecodeError"),
                )
                self.metrics.dlq.labels(sink, "poison").inc()
        return out

    async def handle(self, runner: SinkRunner, events: Sequence[EventT[bytes]]) -> None:
        written = await runner.deliver(self.records(events, runner.sink.name))
        await self.producer.flush()  # DLQ records are durable before the batch is acknowledged
        self.totals[runner.sink.name] += written
        observe_lag(self.app.consumer, (e.message for e in events), self.metrics.lag, runner.sink.name)


def create_sink_apps(
    role: str, settings: Settings, spec: PipelinesSpec, metrics: SinkMetrics, *, web: bool = False
) -> list[StreamprocApp]:
    """The apps of one sink role, one per configured sink (see the module docstring); with ``web``
    the first serves /metrics, /livez, /readyz (when this role is the first of the process)."""
    from streamproc.runtime.admin import ensure_topics

    bootstrap = require_bootstrap(settings)
    sinks = build_sinks(role, settings, spec)
    topics = [settings.clean_topic(s.entity) for s in spec.sources]
    entities = [s.entity for s in spec.sources]
    ensure_topics(
        bootstrap,
        topics + [settings.dlq_topic],
        settings.partitions,
        settings.replication_factor,
        client=confluent_config(settings),
    )
    return [
        sink_app(role, sink, settings, metrics, topics, entities, web=web and n == 0) for n, sink in enumerate(sinks)
    ]


def sink_app(
    role: str,
    sink: Sink,
    settings: Settings,
    metrics: SinkMetrics,
    topics: list[str],
    entities: list[str],
    *,
    web: bool,
    role_type: type[SinkRole] = SinkRole,
) -> StreamprocApp:
    """One sink's app: consumer group ``settings.sink_app_id(sink.name)``, its agent, its start task
    (``role_type``: the runtime, whose ``parse`` reads the topics' messages)."""
    bootstrap = require_bootstrap(settings)
    app = faust_app(
        settings.sink_app_id(sink.name),
        settings,
        bootstrap,
        store="memory://",
        web=web,
        group=group_settings(settings)[0],
    )
    runtime = role_type(app, role, settings, [sink], metrics, topics, entities)
    app.streamproc = runtime
    channel = app.topic(*topics, key_serializer="raw", value_serializer="raw")

    for runner in runtime.runners:
        max_records, within, _ = _window(runner.sink, settings)

        async def consume(
            stream: StreamT[bytes], runner: SinkRunner = runner, max_records: int = max_records, within: float = within
        ) -> None:
            take_events = cast("Stream[bytes]", stream).take_events  # not declared by StreamT
            async for events in take_events(max_records, within=within):
                task = asyncio.ensure_future(runtime.handle(runner, events))
                try:
                    await asyncio.shield(task)
                except asyncio.CancelledError:
                    await _finish_or_leave(task, role)
                    raise
                except BaseException as exc:  # noqa: BLE001 - fail-stop before the acknowledgement
                    sink_fail_stop(f"a {runner.sink.name} batch", exc)

        name = f"sink_{runner.sink.name}".replace("-", "_")
        consume.__name__ = name
        app.agent(channel, name=f"streamproc.sink.{runner.sink.name}")(consume)

    if web:
        install_web(app, metrics.registry)

    @app.task
    async def start_sinks() -> None:
        """Start every sink, waiting out transient failures (the runner retries them)."""
        for runner in runtime.runners:
            try:
                await runner.ensure_started()
            except asyncio.CancelledError:
                raise  # shutting down while a start-up outage is waited out
            except BaseException as exc:  # noqa: BLE001 - a configuration error (exit 78) or a bug (70)
                sink_fail_stop(f"starting sink {runner.sink.name}", exc)

    @app.timer(interval=10.0)
    async def progress() -> None:
        log.info("progress %s: %s", app.conf.id, " ".join(f"{k}={v}" for k, v in runtime.totals.items()))

    return app
