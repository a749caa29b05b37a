"""Every private faust, aiokafka, mode and rocksdict internal streamproc relies on, in one place.

Checked against faust-streaming 0.15.3, aiokafka 0.14.0, mode-streaming 0.7.1 and rocksdict 0.3.29,
the versions pinned in pyproject.toml and constraints.txt; tests/unit/runtime/test_faust_contract.py
fails when an upgrade breaks an assumption below (read it before changing a pin). Where Faust has
an extension point it is used instead, outside this module: the consumer is a transport driver
(:class:`streamproc.runtime.consumer.Transport`), the ingest state a store
(:class:`streamproc.runtime.state.BatchStore`), the app's attributes are declared by
:class:`streamproc.runtime.apps.StreamprocApp`.

The internals, and why each is needed:

``Consumer._drain_messages`` (called by ``Fetcher._fetcher``)
    :class:`BatchDrainConsumer` copies the loop (hash in :data:`UPSTREAM_SHA256`) to call the
    callback directly instead of two tasks per message (``wait_first``), and to hand the source
    topics' messages to their :class:`~streamproc.runtime.consumer.SourceBuffer`: about 2.5x the
    throughput (docs/PERFORMANCE.md). It reads, as upstream does, ``Service._stopped`` (consumer
    and fetcher), ``Consumer._read_offset``, ``_add_gap``, ``_n_acked`` and ``_commit_every``.
``Consumer.perform_seek``, ``on_partitions_revoked``'s removal of ``_read_offset`` entries
    ``perform_seek`` (after every assignment, once the partitions are resumed) is overridden; a
    source partition with no ``_read_offset`` entry is revoked and not sought yet, and its
    records fetched around a rebalance are dropped.
``Consumer._paused_partitions``, the driver's ``Consumer._thread``,
``AIOKafkaConsumerThread._ensure_consumer``
    The fetch watch (:mod:`.fetch_watch`) samples unpaused partitions and reads a partition's
    committed offset from the aiokafka consumer to seek it back.
The driver's ``Consumer._new_consumer_thread``, ``AIOKafkaConsumerThread._create_worker_consumer``,
``AIOKafkaConsumer._fetch_max_wait_ms``
    Faust hard-codes ``fetch_max_wait_ms=1500``; a broker that does not answer a long poll as soon
    as data arrives then adds up to that per fetch (p50 end-to-end 1.7 s on the embedded broker).
    :class:`ShortFetchWaitThread` sets it before ``AIOKafkaConsumer.start()`` reads it.
``Consumer._unacked_messages``
    Messages taken from a source buffer count as in flight, so a rebalance or shutdown waits for
    their acknowledgement (``wait_empty``); the public ``track_message`` would also call the
    sensors per message, the cost the batch path avoids.
``Monitor.stream_inbound_time``
    Faust's livelock check reads it; the stream path that stamps it is skipped by source topics.
mode's ``FlowControlEvent.manage_queue``
    Takes a ``FlowControlQueue``; a :class:`SourceBuffer` is handed in, as only ``clear()`` is called.
``faust.stores.rocksdb.Store._db_for_partition``, ``Store.offset_key`` and its ``str(offset).encode()``
    The RocksDB database of a partition: a batch and its persisted changelog offset (what
    ``Store.persisted_offset`` reads and recovery resumes from) are written in one atomic write
    (Faust's ``apply_changelog_batch`` writes them one after the other), with rocksdict
    ``WriteBatch(raw_mode=True)`` as Faust opens its databases in raw mode.
The changelog record format
    Raw key and value, no headers, to the changelog partition numbered like the source partition:
    what ``Collection.send_changelog`` sends and ``Store.apply_changelog_batch`` applies.
Recovery's end of a changelog partition (``Recovery._build_highwaters``; relied on, not touched)
    Faust recovers up to ``consumer.highwaters()`` (ListOffsets) − 1 and, under
    ``recovery_consistency_check``, refuses a persisted offset beyond it. The ingest worker's
    embedded-broker workaround (:mod:`streamproc.runtime.ingest`) makes that answer exact;
    contract test (e) pins it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast
from weakref import WeakSet

import aiokafka
from faust.sensors.monitor import Monitor
from faust.stores.rocksdb import Store
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, Message
from mode.utils.queues import FlowControlEvent
from rocksdict import Rdict, WriteBatch

from streamproc.runtime.fetch_watch import MISSING

if TYPE_CHECKING:
    from faust.types import ConsumerT

    from streamproc.runtime.apps import StreamprocApp
    from streamproc.runtime.consumer import SourceBuffer

__all__ = [
    "FETCH_MAX_WAIT_MS",
    "UPSTREAM_SHA256",
    "CLASS_INTERNALS",
    "INSTANCE_INTERNALS",
    "BatchDrainConsumer",
    "ShortFetchWaitThread",
    "manage_queue",
    "mark_in_flight",
    "partition_db",
    "write_partitions",
    "encode_offset",
    "changelog_record",
]

log = logging.getLogger("streamproc.consumer")

#: The worker consumer's fetch wait (Faust hard-codes 1500 ms).
FETCH_MAX_WAIT_MS = 100

#: sha256 of ``inspect.getsource`` of each upstream function a method here copies.
UPSTREAM_SHA256: dict[str, str] = {
    "faust.transport.consumer:Consumer._drain_messages": (
        "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"
    ),
    "faust.transport.drivers.aiokafka:Consumer._new_consumer_thread": (
        "0870ec53dea75083995e3565c0f0a25a1c63ecceaeb238e92e2585e3623af5a9"
    ),
}

#: Private methods and class attributes used here, by the class that defines them.
CLASS_INTERNALS: dict[type, tuple[str, ...]] = {
    faust_consumer.Consumer: ("_drain_messages", "_add_gap", "_n_acked"),
    aiokafka_driver.Consumer: ("_new_consumer_thread",),
    aiokafka_driver.AIOKafkaConsumerThread: ("_create_worker_consumer", "_ensure_consumer"),
    Store: ("_db_for_partition", "offset_key"),
}

#: Attributes set on instances (in ``__init__``) used here, by the class whose instances have them.
INSTANCE_INTERNALS: dict[type, tuple[str, ...]] = {
    faust_consumer.Consumer: ("_stopped", "_read_offset", "_commit_every", "_unacked_messages", "_paused_partitions"),
    aiokafka_driver.Consumer: ("_thread",),
    aiokafka.AIOKafkaConsumer: ("_fetch_max_wait_ms",),
    Monitor: ("stream_inbound_time",),
}


class ShortFetchWaitThread(aiokafka_driver.AIOKafkaConsumerThread):
    """Faust's consumer thread with a worker consumer that waits :data:`FETCH_MAX_WAIT_MS`."""

    def _create_worker_consumer(self, transport: aiokafka_driver.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class BatchDrainConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer with the fetch loop of :mod:`streamproc.runtime.consumer`.

    It also closes a window in which Faust loses source records around a rebalance: Faust resumes
    a partition before seeking it to its committed offset (``Recovery.on_recovery_completed``),
    and a fetch made before the seek, handed over after it, is taken as a compaction gap past
    records nobody processed. Here a source partition's records are dropped until its seek
    (:meth:`perform_seek`), and when the first record after a seek lies past the seek position it
    is sought there once more, the rest of that fetch dropped."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: source partition → the offset its last seek went to, until a record at or past it arrives
        self.sought: dict[TP, int] = {}
        self._reseeked: set[TP] = set()
        self._forgot = False

    def _new_consumer_thread(self) -> ShortFetchWaitThread:
        return ShortFetchWaitThread(self, loop=self.loop, beacon=self.beacon)

    async def perform_seek(self) -> None:
        """Faust's seek; remembers where each source partition went (with no committed offset:
        where the offset reset put it; else a stale fetch is taken, the records below skipped)."""
        await super().perform_seek()
        buffers = cast("StreamprocApp", self.app).source_buffers
        sought: dict[TP, int] = {}
        for tp, offset in list(self._read_offset.items()):
            if tp.topic in buffers and offset is None:
                with contextlib.suppress(Exception):  # revoked meanwhile: the next rebalance seeks again
                    offset = await self.position(tp)
            if tp.topic in buffers and offset is not None:
                sought[tp] = offset
        self.sought = sought
        self._reseeked = set()
        settings = getattr(cast("StreamprocApp", self.app).streamproc, "settings", None)
        topic, _, part = getattr(settings, "test_forget_seek", "").rpartition(":")  # as if never sought
        if topic and (forget := TP(topic, int(part))) in sought and not self._forgot:
            self._forgot = True
            del self._read_offset[forget], self.sought[forget]
            log.warning("test hook: %s[%d] left as never sought", forget.topic, forget.partition)

    async def _first_after_seek(self, tp: TP, offset: int) -> bool:
        """Whether a source record at ``offset`` may be taken: not the first after a seek lying
        past it, the first time (then ``tp`` is sought there again: False)."""
        target = self.sought.get(tp)
        if target is None or offset == target or offset < target:
            if target is not None and offset == target:
                del self.sought[tp]
            return True
        if tp in self._reseeked:  # fetched after our own seek: a real gap (compaction, markers)
            del self.sought[tp]
            return True
        self._reseeked.add(tp)
        log.info("%s[%d]: a fetch from before its seek to %d dropped, sought again", tp.topic, tp.partition, target)
        with contextlib.suppress(Exception):  # revoked meanwhile: the next rebalance seeks again
            await self.seek(tp, target)
        return False

    async def fetch_samples(self) -> list[tuple[TP, int | None, int | None]]:
        """:mod:`.fetch_watch`'s samples (assigned, unpaused source partitions, empty buffers)."""
        buffers = cast("StreamprocApp", self.app).source_buffers
        if not self.flow_active:
            return []
        out: list[tuple[TP, int | None, int | None]] = []
        for tp in sorted(self.assignment() - self._paused_partitions):
            buffer = buffers.get(tp.topic)
            if buffer is None or len(buffer):
                continue
            last = self._read_offset.get(tp, MISSING)
            nxt = MISSING if last == MISSING else self.sought.get(tp) if last is None else last + 1
            with contextlib.suppress(Exception):  # revoked meanwhile: not sampled
                out.append((tp, nxt, await self.position(tp)))
        return out

    async def seek_back(self, tp: TP, nxt: int | None) -> None:
        """Seek ``tp`` to ``nxt`` (:data:`MISSING`: to its committed offset, else its first)."""
        if nxt == MISSING:
            thread = self._thread
            ktp = aiokafka.TopicPartition(tp.topic, tp.partition)
            committed = await thread.call_thread(thread._ensure_consumer().committed, ktp)
            if committed is None:
                await thread.seek_to_beginning(ktp)
                committed = await self.position(tp)
            self._read_offset[tp] = nxt = committed
        if nxt is not None:
            await self.seek(tp, nxt)
            self.sought[tp] = nxt
            self._reseeked.discard(tp)

    async def _drain_messages(self, fetcher: Any) -> None:
        callback = self.callback
        getmany = self.getmany
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        read_offset = self._read_offset
        suspended = self.suspend_flow.is_set
        acks_enabled_for = self.app.topics.acks_enabled_for
        commit_every = self._commit_every
        buffers: dict[str, SourceBuffer] = cast("StreamprocApp", self.app).source_buffers
        since_yield = 0
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                await asyncio.sleep(0)
                if self.should_stop:
                    return
                stale: set[TP] = set()  # source partitions sought again during this fetch
                async for tp, message in getmany(timeout=1.0):
                    offset = message.offset
                    buffer = buffers.get(tp.topic)
                    if buffer is not None:
                        if tp not in read_offset or tp in stale:
                            continue  # revoked and not sought yet, or fetched before a seek
                        if not await self._first_after_seek(tp, offset):
                            stale.add(tp)
                            continue
                    last = read_offset.get(tp)
                    if last is not None and offset < last:
                        continue  # already delivered (seek back after a rebalance)
                    if last and offset - last > 1 and acks_enabled_for(message.topic):
                        await self._add_gap(tp, last + 1, offset)  # compacted/transactional gaps
                    if commit_every is not None and self._n_acked >= commit_every:
                        self._n_acked = 0
                        await self.commit()
                    if buffer is not None:
                        if not await buffer.offer(message, self.suspend_flow):
                            continue  # the flow stopped for a rebalance, which seeks back
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


def manage_queue(flow_control: FlowControlEvent, queue: SourceBuffer) -> None:
    """Have ``flow_control`` clear ``queue`` on every rebalance and stop, like Faust's stream buffers."""
    flow_control.manage_queue(queue)  # type: ignore[arg-type]  # only its clear() is called


def mark_in_flight(consumer: ConsumerT, messages: Sequence[Message]) -> None:
    """Count ``messages`` as unacknowledged and stamp their partitions' stream-inbound time."""
    faust_consumer_ = cast(faust_consumer.Consumer, consumer)
    cast("WeakSet[Message]", faust_consumer_._unacked_messages).update(messages)
    inbound = faust_consumer_.app.monitor.stream_inbound_time
    now = time.monotonic()
    for tp in {m.tp for m in messages}:
        inbound[tp] = now


def partition_db(store: Store, partition: int) -> Rdict:
    """The RocksDB database of ``partition`` in ``store`` (opened on first use)."""
    return store._db_for_partition(partition)


def encode_offset(offset: int) -> bytes:
    """A changelog offset as ``Store.set_persisted_offset`` stores it."""
    return str(offset).encode()


def write_partitions(
    store: Store, items: Iterable[tuple[int, bytes, bytes | None]], offsets: Mapping[int, int]
) -> None:
    """Write ``items`` ((partition, key, value); ``None`` deletes, as a tombstone in recovery) and
    each partition's persisted changelog offset (``offsets``), one atomic write per partition."""
    batches: defaultdict[int, WriteBatch] = defaultdict(lambda: WriteBatch(raw_mode=True))
    for partition, key, value in items:
        if value is None:
            batches[partition].delete(key)
        else:
            batches[partition].put(key, value)
    for partition, offset in offsets.items():
        batches[partition].put(store.offset_key, encode_offset(offset))
    for partition, batch in batches.items():
        partition_db(store, partition).write(batch)


def changelog_record(key: bytes, value: bytes | None, partition: int) -> tuple[bytes, bytes | None, int]:
    """(key, value, changelog partition) of the record (no headers) Faust's table sends for ``key``
    set to ``value`` (``None``: a tombstone) while processing a message of source ``partition``."""
    return key, value, partition
