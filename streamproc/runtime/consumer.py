"""The ingest stage's message path: a Faust transport whose consumer hands messages on without a
task per message, and straight to a :class:`SourceBuffer` for the ingest source topics.

Faust's stock ``Consumer._drain_messages`` awaits ``wait_first(callback(message),
suspend_flow.wait())`` for every message, which creates and schedules two asyncio tasks per
message. On this project's 2-core reference machine that caps a bare ``take_events`` agent at
about 4,500 messages/s; calling the callback directly when flow is not suspended measured
about 11,500 messages/s (bench/ingest_bench.py, docs/PERFORMANCE.md).

Semantics kept: the read-offset bookkeeping and gap tracking used for acknowledgements, the
``broker_commit_every`` commits, and the abort-on-suspend behaviour while a rebalance has
suspended the flow (then the stock ``wait_first`` path is taken). Topic channels enqueue with
``put_nowait`` and apply back-pressure by pausing partitions, so the direct call does not block.
Source topics of the ingest stage skip the conductor, the channel queue, the Event and the
Stream altogether: their messages are appended to a :class:`SourceBuffer`, which the ingest
agent takes in batches (:mod:`streamproc.runtime.ingest`). Faust's per-message path cost about a
fifth of the ingest worker's main thread (py-spy, bench/ingest_bench.py). What that path did and
still matters is done here or by the taker: flow control (a message is held while the app's flow
is suspended and dropped when the consumer's is, exactly as the stock path does; buffers are
cleared on every rebalance and stop, and messages of an older consumer generation are dropped
when taken, since Faust seeks back to the committed offsets after a rebalance), back-pressure
(the fetch loop waits while a buffer is full), acknowledgement and ``wait_empty`` bookkeeping
(:func:`track` / :func:`ack`), and the stream-inbound time Faust's livelock check reads. One
thing Faust's path gets wrong is guarded: records fetched before the seek that follows a
rebalance are dropped, not taken past an acknowledged "gap" (``BatchDrainConsumer``).

The consumer is installed as a Faust transport driver: :class:`Transport`, registered under the
URL scheme :data:`SCHEME` through the ``faust.transports`` entry point (pyproject.toml); the apps'
``broker_consumer`` URLs use that scheme. The loop itself overrides Faust internals and lives in
:mod:`streamproc.runtime.faust_compat` (``BatchDrainConsumer``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import ConsumerT, Message

from streamproc.runtime import faust_compat

if TYPE_CHECKING:
    from streamproc.runtime.apps import StreamprocApp

__all__ = ["SCHEME", "Transport", "SourceBuffer", "buffer_for", "track", "ack"]

#: The URL scheme of :class:`Transport` (``faust.transports`` entry point in pyproject.toml).
SCHEME = "streamproc-kafka"


class Transport(aiokafka_driver.Transport):
    """Faust's aiokafka transport with the batch-drain consumer."""

    Consumer: ClassVar[type[ConsumerT]] = faust_compat.BatchDrainConsumer


class SourceBuffer:
    """Fetched messages of one source topic, in fetch order, taken in batches by its agent."""

    def __init__(self, app: StreamprocApp, maxsize: int) -> None:
        self.app = app
        self.maxsize = maxsize
        self._messages: list[Message] = []
        self._want = maxsize
        self._since = 0.0  # monotonic time the oldest waiting message arrived
        self._nonempty = asyncio.Event()
        self._enough = asyncio.Event()
        self.space = asyncio.Event()
        self.space.set()
        faust_compat.manage_queue(app.flow_control, self)

    def __len__(self) -> int:
        return len(self._messages)

    def put(self, message: Message) -> None:
        messages = self._messages
        messages.append(message)
        n = len(messages)
        if n == 1:
            self._since = time.monotonic()
            self._nonempty.set()
        if n >= self._want:
            self._enough.set()
        if n >= self.maxsize:
            self.space.clear()

    def clear(self) -> None:
        self._messages.clear()
        self.space.set()

    async def offer(self, message: Message, stopped: asyncio.Event) -> bool:
        """Deliver ``message`` as Faust's stock path would: held while the app's flow is suspended
        or the buffer is full, dropped once the consumer's flow is stopped (``stopped``, an event;
        a seek back to the committed offsets follows). False when dropped: then the message was
        not read, and its partition's read offset must not move."""
        flow_control = self.app.flow_control
        while not stopped.is_set() and (not flow_control.is_active() or len(self._messages) >= self.maxsize):
            waiter = self.space.wait() if flow_control.is_active() else flow_control.acquire()
            await _first(waiter, stopped.wait())
        if stopped.is_set():
            return False
        self.put(message)
        return True

    async def take(self, max_: int, within: float) -> list[Message]:
        """Up to ``max_`` messages, once that many are waiting or the oldest waiting message has
        waited ``within`` seconds. Messages fetched before the latest rebalance are dropped
        (Faust re-reads from the committed offsets after one)."""
        self._want = max_
        if not self._messages:
            self._nonempty.clear()
            await self._nonempty.wait()
        left = self._since + within - time.monotonic()
        if len(self._messages) < max_ and left > 0:
            self._enough.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._enough.wait(), left)
        batch = self._messages[:max_]
        del self._messages[:max_]
        if self._messages:
            self._since = time.monotonic()  # the rest: their window restarts now (at most one more `within`)
        if len(self._messages) < self.maxsize:
            self.space.set()
        generation = self.app.consumer_generation_id
        if any(m.generation_id != generation for m in batch):
            batch = [m for m in batch if m.generation_id == generation]
        return batch


def buffer_for(app: StreamprocApp, topic: str) -> SourceBuffer:
    """From now on the messages of ``topic`` skip Faust's streams and go to the returned buffer."""
    buffer = app.source_buffers[topic] = SourceBuffer(app, app.conf.stream_buffer_maxsize)
    return buffer


async def _first(*awaitables: Awaitable[Any]) -> None:
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


def track(consumer: ConsumerT, messages: Sequence[Message]) -> None:
    """Count ``messages`` as being processed: a rebalance or shutdown waits for their
    :func:`ack` (``Consumer.wait_empty``), and Faust's livelock check sees the stream move."""
    faust_compat.mark_in_flight(consumer, messages)


def ack(consumer: ConsumerT, messages: Sequence[Message]) -> None:
    """Acknowledge processed messages: Faust commits each partition up to its highest
    contiguous acknowledged offset."""
    consumer_ack = consumer.ack
    for message in messages:
        consumer_ack(message)
