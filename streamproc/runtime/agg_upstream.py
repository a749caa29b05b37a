"""The first agent of the aggregation role: one per clean topic ``<prefix>.events.<entity>``,
running every aggregation of that entity, keyed by the entity key (co-partitioned with the clean
topic, so one key's events are applied in order by one worker).

Per batch: each event runs through :func:`~streamproc.aggregate.upstream_step` of each aggregation
against its row state (table ``agg-up-<entity>``, keys ``ROWS + <name> NUL <event key>``) and the
partition's watermark (``WATERMARK + <name>``); its deltas go to the repartition topic
``<app_id>-agg-<name>-repartition``, each to its group's partition, in offset order, packed: one
message per partition holds the batch's deltas for it (:func:`~streamproc.aggregate.pack`, at
most :data:`PACK_BYTES`; a producer makes a prefix of a partition's messages durable, so a crash
leaves a prefix of each partition's deltas, as with one delta per message); after the batch each touched
partition's watermark goes, as a ``watermark`` tick, to every repartition partition (a group's
partition may get no delta from it). Then the batch protocol of the ingest state (output durable,
then changelog, then state and changelog offset in one write per partition, then the offsets are
acknowledged), so a crash re-sends the same deltas with the same ``src``, which the downstream
engine ignores.

Idle close (:meth:`UpstreamRuntime.idle_ticks`): a partition this worker owns that is caught up
(its high watermark is the next offset to process, nothing waits in the buffer) and took nothing
for ``idle_close`` of wall-clock time sends ``tick(name, partition, max(watermark, now -
idle_close), "idle")`` to every repartition partition. A replay has lag, so it never closes early.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from faust.types import TP, CollectionT, ConsumerT, Message

from streamproc.aggregate import AggregationSpec, pack, partition_of, tick, upstream_step
from streamproc.jsonutil import dumps, loads
from streamproc.runtime.agg_state import ROWS, WATERMARK, AggBatch

if TYPE_CHECKING:
    from streamproc.runtime.aggregations import AggregationRuntime

__all__ = ["UpstreamRuntime"]

log = logging.getLogger("streamproc.aggregations")

#: a packed message is sent once its deltas reach this size (the broker's default limit is 1 MiB)
PACK_BYTES = 256 * 1024


class Packer:
    """The deltas of one batch, per (aggregation, repartition partition), sent packed in order."""

    def __init__(self, role: AggregationRuntime) -> None:
        self.role = role
        self.pending: dict[tuple[str, int], tuple[list[bytes], int]] = {}

    def add(self, aggregation: str, key: bytes, value: bytes) -> None:
        where = (aggregation, partition_of(key, self.role.repartitions[aggregation]))
        deltas, size = self.pending.get(where, ([], 0))
        deltas.append(value)
        size += len(value) + 1
        if size >= PACK_BYTES:
            self._send(where, deltas)
            deltas, size = [], 0
        self.pending[where] = (deltas, size)

    def _send(self, where: tuple[str, int], deltas: list[bytes]) -> None:
        aggregation, partition = where
        topic = self.role.repartition_topic(aggregation)
        self.role.producer.produce(topic, b"deltas", pack(aggregation, deltas), partition=partition)

    def send(self) -> None:
        """Everything still pending; before the batch's ticks, which must follow its deltas."""
        for where, (deltas, _) in self.pending.items():
            if deltas:
                self._send(where, deltas)
        self.pending.clear()


class UpstreamRuntime:
    """The upstream agent of one clean topic (see the module docstring)."""

    def __init__(self, role: AggregationRuntime, topic: str, specs: Sequence[AggregationSpec], table: CollectionT):
        self.role = role
        self.topic = topic
        self.specs = list(specs)
        self.table = table
        self.lock = asyncio.Lock()
        #: clean partition → monotonic time of the last message taken (or of its assignment)
        self.last_taken: dict[int, float] = {}
        #: clean partition → next offset to process
        self.next_offset: dict[int, int] = {}
        #: (aggregation, clean partition) → the last idle watermark sent
        self.idle_sent: dict[tuple[str, int], int] = {}

    def assigned(self, partitions: set[int]) -> None:
        """After a rebalance: forget partitions no longer owned; owned ones start their idle clock."""
        now = time.monotonic()
        self.last_taken = dict.fromkeys(partitions, now)
        self.next_offset = {p: o for p, o in self.next_offset.items() if p in partitions}
        self.idle_sent = {k: v for k, v in self.idle_sent.items() if k[1] in partitions}

    async def handle_batch(self, messages: list[Message]) -> None:
        async with self.lock:
            await self._handle(messages)

    async def _handle(self, messages: list[Message]) -> None:
        role = self.role
        packer = Packer(role)
        batch = AggBatch(self.table)
        watermarks: dict[tuple[str, int], int | None] = {}
        touched: set[tuple[str, int]] = set()
        counts: Counter[tuple[str, str]] = Counter()  # (aggregation, what) → n, to the metrics once per batch
        names = {spec.name: spec.name.encode() for spec in self.specs}
        now = time.monotonic()
        for msg in messages:
            p = msg.partition
            self.last_taken[p] = now
            self.next_offset[p] = msg.offset + 1
            try:
                event = loads(msg.value) if msg.value is not None else None
            except ValueError:
                event = None
            if not isinstance(event, dict):
                counts[(self.topic, "not-a-clean-event")] += 1
                continue
            key = msg.key or b""
            for spec in self.specs:
                name = names[spec.name]
                wkey = (spec.name, p)
                if wkey not in watermarks:
                    raw = batch.get(p, WATERMARK + name)
                    watermarks[wkey] = None if raw is None else int(raw)
                rkey = ROWS + name + b"\x00" + key
                raw_row = batch.get(p, rkey)
                step = upstream_step(
                    spec, None if raw_row is None else loads(raw_row), event, (p, msg.offset), watermarks[wkey]
                )
                batch.set(p, rkey, None if step.row_state is None else dumps(step.row_state))
                if step.watermark_ms is not None and step.watermark_ms != watermarks[wkey]:
                    watermarks[wkey] = step.watermark_ms
                    touched.add(wkey)
                if step.deltas:
                    for d in step.deltas:
                        packer.add(spec.name, d.group_key, d.to_json())
                    counts[(spec.name, "deltas")] += len(step.deltas)
                if step.incomplete:
                    counts[(spec.name, "incomplete")] += step.incomplete
                if step.duplicate:
                    counts[(spec.name, "duplicate")] += 1
                elif step.untimed:
                    counts[(spec.name, "no-event-time")] += 1
        packer.send()
        for agg, part in sorted(touched):
            wm = watermarks[(agg, part)]
            if wm is not None:
                batch.set(part, WATERMARK + names[agg], str(wm).encode())
                role.broadcast(agg, tick(agg, part, wm, "watermark"))
        await role.finish(batch, len(messages))
        self._count(len(messages), counts)

    def _count(self, taken: int, counts: Counter[tuple[str, str]]) -> None:
        m = self.role.metrics
        m.events_in.labels(self.topic).inc(taken)
        for (label, what), n in counts.items():
            if what == "deltas":
                m.deltas.labels(label).inc(n)
            elif what == "incomplete":
                m.incomplete.labels(label).inc(n)
            else:
                m.skipped.labels(label, what).inc(n)

    async def idle_ticks(self) -> None:
        """Send idle ticks for every owned partition that is caught up and quiet (module docstring)."""
        role = self.role
        app = role.app
        if app.rebalancing or app.in_recovery:
            return
        buffer = app.source_buffers.get(self.topic)
        if buffer is not None and len(buffer):
            return
        consumer = app.consumer
        now = time.monotonic()
        now_ms = int(time.time() * 1000)
        async with self.lock:
            sent = False
            for p, taken in sorted(self.last_taken.items()):
                tp = TP(self.topic, p)
                quiet = [s for s in self.specs if s.emit == "final" and now - taken >= s.idle_close_ms / 1000]
                if not quiet or not await self._caught_up(consumer, tp):
                    continue
                batch = AggBatch(self.table)
                for spec in quiet:
                    raw = batch.get(p, WATERMARK + spec.name.encode())
                    wm = max(now_ms - spec.idle_close_ms, int(raw) if raw is not None else 0)
                    if wm > self.idle_sent.get((spec.name, p), -1):
                        self.idle_sent[(spec.name, p)] = wm
                        role.broadcast(spec.name, tick(spec.name, p, wm, "idle"))
                        role.metrics.idle_ticks.labels(spec.name).inc()
                        sent = True
            if sent:
                await role.producer.flush()

    async def _caught_up(self, consumer: ConsumerT, tp: TP) -> bool:
        """Whether ``tp`` has no lag: its high watermark (from the last fetch) is the next offset
        this agent processes (or, before the first message, the consumer's position)."""
        high: int | None = consumer.highwater(tp)
        if high is None:
            return False
        nxt = self.next_offset.get(tp.partition)
        if nxt is None:
            nxt = await consumer.position(tp)
        return nxt is not None and nxt >= high
