"""The Faust app every role runs on, and what the ingest and sink roles share: group settings, the
bootstrap check, lag metrics and the fail-stop exit."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import faust
import faust.stores
import faust.transport
from faust.types import TP, ConsumerT, Message, StreamT
from prometheus_client import Gauge

from streamproc.config.settings import Settings
from streamproc.errors import ConfigError, ExitCode, FatalSinkError, ServiceUnavailable
from streamproc.runtime import consumer, state
from streamproc.runtime.admin import is_embedded
from streamproc.runtime.kafka_config import confluent_config, faust_broker_options

if TYPE_CHECKING:
    from streamproc.runtime.aggregations import AggregationRuntime
    from streamproc.runtime.consumer import SourceBuffer
    from streamproc.runtime.ingest import IngestRuntime
    from streamproc.runtime.sink_app import SinkRole

__all__ = [
    "StreamprocApp",
    "faust_app",
    "group_settings",
    "fail_stop",
    "add_batch_agent",
    "require_bootstrap",
    "observe_lag",
    "check_drivers",
]

log = logging.getLogger("streamproc.ingest")


class StreamprocApp(faust.App):
    """A Faust app of one streamproc role, with the attributes the runtime reads."""

    #: the role's runtime, set by the role's builder
    streamproc: IngestRuntime | SinkRole | AggregationRuntime | None
    #: the apps of this process /readyz reports on (this one first; the worker adds the others)
    web_apps: list[StreamprocApp]
    #: topic → buffer: these topics' messages skip Faust's streams (:mod:`.consumer`)
    source_buffers: dict[str, SourceBuffer]

    def __init__(self, id: str, **options: Any) -> None:
        super().__init__(id, **options)
        self.streamproc = None
        self.web_apps = [self]
        self.source_buffers = {}


def fail_stop(where: str, exc: BaseException, code: ExitCode = ExitCode.SOFTWARE) -> None:
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


def observe_lag(consumer: ConsumerT, messages: Iterable[Message], gauge: Gauge, *labels: str) -> None:
    """Set ``gauge`` (labels ``*labels, topic, partition``) to high watermark minus next offset
    for each partition of the batch."""
    last: dict[TP, int] = {}
    for msg in messages:
        last[msg.tp] = msg.offset
    for tp, offset in last.items():
        hw = consumer.highwater(tp)
        if hw is not None:
            gauge.labels(*labels, tp.topic, str(tp.partition)).set(max(0, hw - offset - 1))


def group_settings(settings: Settings) -> tuple[dict[str, float], bool]:
    """Consumer-group timeouts, shortened on the embedded broker (a single local member needs no
    long rebalance windows); and whether the broker is the embedded one."""
    group = {
        "broker_session_timeout": settings.session_timeout,
        "broker_rebalance_timeout": settings.rebalance_timeout,
        "broker_heartbeat_interval": settings.heartbeat_interval,
    }
    embedded = is_embedded(settings.kafka_bootstrap or "", confluent_config(settings))
    if embedded:
        group.update(broker_session_timeout=10.0, broker_rebalance_timeout=10.0, broker_heartbeat_interval=1.0)
    return group, embedded


def require_bootstrap(settings: Settings) -> str:
    """``STREAMPROC_KAFKA_BOOTSTRAP``, or a ConfigError saying how to get a broker."""
    if not settings.kafka_bootstrap:
        raise ConfigError(
            "STREAMPROC_KAFKA_BOOTSTRAP is not set: point it at Kafka, or run `streamproc dev` "
            "to use the embedded local broker"
        )
    return settings.kafka_bootstrap


def check_drivers() -> None:
    """A ConfigError when Faust cannot find streamproc's transport or store: they are registered
    by the package's entry points, which exist once the package is installed (``make setup``)."""
    try:
        faust.transport.by_url(f"{consumer.SCHEME}://")
        faust.stores.by_url(f"{state.SCHEME}://")
    except ModuleNotFoundError:
        raise ConfigError(
            f"Faust does not know the {consumer.SCHEME}:// transport or the {state.SCHEME}:// store: "
            "install streamproc (make setup, or pip install -e .) so its entry points are registered"
        ) from None


def faust_app(
    app_id: str, settings: Settings, bootstrap: str, *, store: str, web: bool, group: dict[str, float], **extra: Any
) -> StreamprocApp:
    """A Faust app as every role configures it (raw bytes, our batch-drain consumer, no table or
    router pages); ``extra`` adds role-specific settings."""
    check_drivers()
    hosts = [h.strip() for h in bootstrap.split(",")]
    return StreamprocApp(
        app_id,
        broker=[f"kafka://{h}" for h in hosts],
        broker_consumer=[f"{consumer.SCHEME}://{h}" for h in hosts],
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
        **faust_broker_options(settings),  # TLS/SASL of the consumer, producer and topic client
        key_serializer="raw",
        value_serializer="raw",  # tables hold bytes we encode ourselves
        **group,
        **extra,
    )


def add_batch_agent(
    app: StreamprocApp,
    settings: Settings,
    topic: str,
    partitions: int,
    handle: Callable[[list[Message]], Awaitable[None]],
    *,
    name: str,
    what: str,
) -> None:
    """Subscribe ``app`` to ``topic`` with one agent named ``name`` whose messages skip the stream
    and arrive in the topic's SourceBuffer (runtime/consumer), taken in batches of at most
    ``batch_size`` within ``batch_within`` and passed to ``handle``. Any error is fail-stop
    (``what`` names the batch in its message) and nothing of that batch is acknowledged; a
    cancellation arrives only after ``handle`` completed its output and state write, so the batch
    is acknowledged."""
    s = settings
    channel = app.topic(topic, key_serializer="raw", value_serializer="raw", partitions=partitions)
    buffer = consumer.buffer_for(app, topic)

    async def run(stream: StreamT[bytes]) -> None:
        kafka = app.consumer
        while True:
            messages = await buffer.take(s.batch_size, s.batch_within)
            if not messages:
                continue
            consumer.track(kafka, messages)
            try:
                await handle(messages)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 - fail-stop: exits, nothing is acknowledged
                fail_stop(what, exc)
            finally:
                consumer.ack(kafka, messages)

    run.__name__ = name.replace(".", "_").replace("-", "_")
    app.agent(channel, name=name)(run)
