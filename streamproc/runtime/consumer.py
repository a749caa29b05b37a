"""A Faust consumer whose fetch loop hands messages on without a task per message, and
straight to a :class:`SourceBuffer` for the ingest source topics.

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
agent takes in batches (``app.py``). Faust's per-message path cost about a fifth of the ingest
worker's main thread (py-spy, bench/ingest_bench.py). What that path did and still matters is
done here or by the taker: flow control (a message is held while the app's flow is suspended
and dropped when the consumer's is, exactly as the stock path does; buffers are cleared on every
rebalance and stop, and messages of an older consumer generation are dropped when taken, since
Faust seeks back to the committed offsets after a rebalance), back-pressure (the fetch loop waits
while a buffer is full), acknowledgement and ``wait_empty`` bookkeeping (:func:`track` /
:func:`ack`), and the stream-inbound time Faust's livelock check reads.

Written against faust-streaming 0.15 (pinned to 0.15.x in pyproject.toml).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from faust.transport.drivers import aiokafka as _aiokafka

__all__ = [
    "BatchDrainConsumer",
    "ShortFetchWaitThread",
    "SourceBuffer",
    "buffer_for",
    "install",
    "track",
    "ack",
    "FETCH_MAX_WAIT_MS",
]

#: Faust hard-codes fetch_max_wait_ms=1500 for its worker consumer. A broker that does not
#: answer a long-poll fetch as soon as data arrives then adds up to that much latency per fetch
#: (measured on the embedded broker: p50 end-to-end 1.7 s at 2,000 events/s offered).
FETCH_MAX_WAIT_MS = 100


class ShortFetchWaitThread(_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by AIOKafkaConsumer.start()
        return consumer


class SourceBuffer:
    """Fetched messages of one source topic, in fetch order, taken in batches by its agent."""

    def __init__(self, app: Any, maxsize: int) -> None:
        self.app = app
        self.maxsize = maxsize
        self._messages: list[Any] = []
        self._want = maxsize
        self._since = 0.0  # monotonic time the oldest waiting message arrived
        self._nonempty = asyncio.Event()
        self._enough = asyncio.Event()
        self.space = asyncio.Event()
        self.space.set()
        app.flow_control.manage_queue(self)  # cleared on rebalance and stop, like Faust's stream buffers

    def __len__(self) -> int:
        return len(self._messages)

    def put(self, message: Any) -> None:
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

    async def offer(self, message: Any, stopped: Any) -> None:
        """Deliver ``message`` as Faust's stock path would: held while the app's flow is suspended
        or the buffer is full, dropped once the consumer's flow is stopped (``stopped``, an event;
        a seek back to the committed offsets follows)."""
        flow_control = self.app.flow_control
        while not stopped.is_set() and (not flow_control.is_active() or len(self._messages) >= self.maxsize):
            waiter = self.space.wait() if flow_control.is_active() else flow_control.acquire()
            await _first(waiter, stopped.wait())
        if not stopped.is_set():
            self.put(message)

    async def take(self, max_: int, within: float) -> list[Any]:
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
            try:
                await asyncio.wait_for(self._enough.wait(), left)
            except TimeoutError:
                pass
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


def buffer_for(app: Any, topic: str) -> SourceBuffer:
    """From now on the messages of ``topic`` skip Faust's streams and go to the returned buffer."""
    buffer = app.source_buffers[topic] = SourceBuffer(app, app.conf.stream_buffer_maxsize)
    return buffer


async def _first(*awaitables: Any) -> None:
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


def track(consumer: Any, messages: Sequence[Any]) -> None:
    """Count ``messages`` as being processed: a rebalance or shutdown waits for their
    :func:`ack` (``Consumer.wait_empty``), and Faust's livelock check sees the stream move."""
    consumer._unacked_messages.update(messages)
    inbound = consumer.app.monitor.stream_inbound_time
    now = time.monotonic()
    for tp in {m.tp for m in messages}:
        inbound[tp] = now


def ack(consumer: Any, messages: Sequence[Any]) -> None:
    """Acknowledge processed messages: Faust commits each partition up to its highest
    contiguous acknowledged offset."""
    consumer_ack = consumer.ack
    for message in messages:
        consumer_ack(message)


class BatchDrainConsumer(_aiokafka.Consumer):
    def _new_consumer_thread(self) -> Any:
        return ShortFetchWaitThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:
        callback = self.callback
        getmany = self.getmany
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        read_offset = self._read_offset
        suspended = self.suspend_flow.is_set
        acks_enabled_for = self.app.topics.acks_enabled_for
        commit_every = self._commit_every
        buffers: dict[str, SourceBuffer] = self.app.source_buffers
        since_yield = 0
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                await asyncio.sleep(0)
                if self.should_stop:
                    return
                async for tp, message in getmany(timeout=1.0):
                    offset = message.offset
                    last = read_offset.get(tp)
                    if last is not None and offset < last:
                        continue  # already delivered (seek back after a rebalance)
                    if last and offset - last > 1 and acks_enabled_for(message.topic):
                        await self._add_gap(tp, last + 1, offset)  # compacted/transactional gaps
                    if commit_every is not None and self._n_acked >= commit_every:
                        self._n_acked = 0
                        await self.commit()
                    buffer = buffers.get(tp.topic)
                    if buffer is not None:
                        await buffer.offer(message, self.suspend_flow)
                    elif suspended():
                        await self.wait_first(callback(message), self.suspend_flow.wait())
                    else:
                        await callback(message)
                    read_offset[tp] = offset
                    since_yield += 1
                    if since_yield >= 500:
                        since_yield = 0
                        await asyncio.sleep(0)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise


def install(app: Any) -> None:
    """Use :class:`BatchDrainConsumer` for ``app``; call before the app's consumer is created.
    ``app.source_buffers`` (topic → :class:`SourceBuffer`, empty here) routes those topics'
    messages past Faust's streams."""
    app.transport.Consumer = BatchDrainConsumer
    app.source_buffers = {}
