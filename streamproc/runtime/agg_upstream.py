"""The first agent of the aggregation role: one per clean topic ``<prefix>.events.<entity>``,
running every aggregation of that entity, keyed by the entity key (co-partitioned with the clean
topic, so one key's events are applied in order by one worker).

Per batch: an event whose ``streamproc.origin`` is at or below the highest origin offset taken
for its origin stream on that partition (``ORIGINS + <topic>:<partition>``) is a copy and is
skipped (:mod:`streamproc.pipeline.origin`). Each other event runs through
:func:`~streamproc.aggregate.upstream_step` of each aggregation against its row state (table
``agg-up-<entity>``, keys ``ROWS + <name> NUL <event key>``; in events mode with an origin none is
kept unless the partition holds one from before) and the partition's watermark (``WATERMARK +
<name>``); its deltas go to the repartition topic
``<app_id>-agg-<name>-repartition``, each to its group's partition, packed, and per clean
partition combined where :mod:`streamproc.aggregate.combine` allows it (:mod:`.agg_packer`); a
partition's batches go one delta per event past what an earlier owner may have sent unrecorded
(``PROGRESS`` records each partition's next offset, this process's batch size and that bound,
the last two before anything is sent after an assignment); after the batch each touched
partition's watermark goes, as a ``watermark`` tick, to every repartition partition (a group's
partition may get no delta from it). Then the batch protocol of the ingest state (output durable,
then changelog, then state and changelog offset in one write per partition, then the offsets are
acknowledged), so a crash re-sends the same deltas with the same ``src``, which the downstream
engine ignores.

Idle close (:meth:`UpstreamRuntime.idle_ticks`): a partition this worker owns that is caught up
(its high watermark is the next offset to process, nothing waits in the buffer) and took nothing
for ``idle_close`` of wall-clock time sends ``tick(name, partition, max(watermark, now -
idle_close), "idle")`` to every repartition partition, after recording it as the partition's
watermark (combining relies on knowing every watermark the downstream may have). A replay has
lag, so it never closes early.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from faust.types import TP, CollectionT, ConsumerT, Message

from streamproc.aggregate import AggregationSpec, Delta, tick, upstream_step
from streamproc.aggregate.combine import FIRST_INDEX, combine, combining_from
from streamproc.jsonutil import dumps, loads
from streamproc.pipeline.origin import is_copy, parse_origin
from streamproc.runtime.agg_packer import Packer
from streamproc.runtime.agg_state import ORIGINS, PROGRESS, ROWS, WATERMARK, AggBatch

if TYPE_CHECKING:
    from streamproc.runtime.aggregations import AggregationRuntime

__all__ = ["UpstreamRuntime"]

log = logging.getLogger("streamproc.aggregations")


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
        #: clean partition → the offset from which its batches may be combined
        self.combine_from: dict[int, int] = {}
        #: (aggregation, clean partition) → whether it may hold a row state (:meth:`_has_rows`)
        self.has_rows: dict[tuple[str, int], bool] = {}

    def assigned(self, partitions: set[int]) -> None:
        """After a rebalance: forget partitions no longer owned; owned ones start their idle clock."""
        now = time.monotonic()
        self.last_taken = dict.fromkeys(partitions, now)
        self.next_offset = {p: o for p, o in self.next_offset.items() if p in partitions}
        self.idle_sent = {k: v for k, v in self.idle_sent.items() if k[1] in partitions}
        self.combine_from = {}  # every assignment seeks to the committed offsets: per event again
        self.has_rows = {}  # the state of a partition may be another owner's now

    async def handle_batch(self, messages: list[Message]) -> None:
        async with self.lock:
            await self._handle(messages)

    async def _start_partitions(self, messages: list[Message]) -> dict[int, tuple[bool, int]]:
        """Per partition of the batch, whether its deltas may be combined and the offset from
        which a partition's may (recorded with the batch). A partition new since
        the assignment gets its bound (:func:`~streamproc.aggregate.combine.combining_from`) from
        what ``PROGRESS`` records, and this process's batch size and that bound are recorded
        before anything of this batch is sent."""
        firsts: dict[int, int] = {}
        for msg in messages:
            firsts.setdefault(msg.partition, msg.offset)
        size = self.role.settings.batch_size
        batch = AggBatch(self.table)
        for p, first in firsts.items():
            if p in self.combine_from:
                continue
            raw = batch.get(p, PROGRESS)
            rec = loads(raw) if raw is not None else {}
            bound = combining_from(first, rec.get("next"), rec.get("bs"), rec.get("from"), size)
            self.combine_from[p] = bound
            if (rec.get("bs"), rec.get("from")) != (size, bound):
                batch.set(p, PROGRESS, dumps({**rec, "bs": size, "from": bound}))
        out = {p: (first >= self.combine_from[p], self.combine_from[p]) for p, first in firsts.items()}
        if batch.overlay:
            await self.role.finish(batch, 0)
        return out

    async def _handle(self, messages: list[Message]) -> None:
        role = self.role
        starts = await self._start_partitions(messages)
        packer = Packer(role)
        pending: dict[tuple[str, int], list[Delta]] = {}
        nexts: dict[int, int] = {}
        batch = AggBatch(self.table)
        watermarks: dict[tuple[str, int], int | None] = {}
        touched: set[tuple[str, int]] = set()
        counts: Counter[tuple[str, str]] = Counter()  # (aggregation, what) → n, to the metrics once per batch
        names = {spec.name: spec.name.encode() for spec in self.specs}
        highest: dict[tuple[int, bytes], int | None] = {}  # (partition, ORIGINS + stream) → offset
        now = time.monotonic()
        for msg in messages:
            p = msg.partition
            self.last_taken[p] = now
            self.next_offset[p] = nexts[p] = msg.offset + 1
            try:
                event = loads(msg.value) if msg.value is not None else None
            except ValueError:
                event = None
            if not isinstance(event, dict):
                counts[(self.topic, "not-a-clean-event")] += 1
                continue
            origin = parse_origin(msg.headers)
            if origin is not None:
                okey = ORIGINS + origin.stream
                if (p, okey) not in highest:
                    raw = batch.get(p, okey)
                    highest[(p, okey)] = None if raw is None else int(raw)
                if is_copy(highest[(p, okey)], origin.offset):
                    for spec in self.specs:
                        counts[(spec.name, "duplicate")] += 1
                    continue
                highest[(p, okey)] = origin.offset
            key = msg.key or b""
            for spec in self.specs:
                name = names[spec.name]
                wkey = (spec.name, p)
                if wkey not in watermarks:
                    raw = batch.get(p, WATERMARK + name)
                    watermarks[wkey] = None if raw is None else int(raw)
                rkey = ROWS + name + b"\x00" + key
                raw_row = None
                if origin is None or spec.mode == "rows" or self._has_rows(batch, wkey, name):
                    raw_row = batch.get(p, rkey)
                # events mode, an origin, and no row state (by far the usual): no row state kept
                keyed = raw_row is not None or origin is None or spec.mode == "rows"
                row = None if raw_row is None else loads(raw_row)
                step = upstream_step(spec, row, event, (p, msg.offset), watermarks[wkey], dedupe=keyed)
                if keyed:
                    batch.set(p, rkey, None if step.row_state is None else dumps(step.row_state))
                    self.has_rows[wkey] = True
                if step.watermark_ms is not None and step.watermark_ms != watermarks[wkey]:
                    watermarks[wkey] = step.watermark_ms
                    touched.add(wkey)
                if step.deltas:
                    pending.setdefault(wkey, []).extend(step.deltas)
                    counts[(spec.name, "deltas")] += len(step.deltas)
                if step.incomplete:
                    counts[(spec.name, "incomplete")] += step.incomplete
                if step.duplicate:
                    counts[(spec.name, "duplicate")] += 1
                elif step.untimed:
                    counts[(spec.name, "no-event-time")] += 1
        self._send(packer, pending, {p: ok for p, (ok, _) in starts.items()}, watermarks, counts)
        for (part, okey), offset in highest.items():
            if offset is not None:
                batch.set(part, okey, str(offset).encode())
        for p, (_, bound) in starts.items():
            progress = {"next": nexts[p], "bs": role.settings.batch_size, "from": bound}
            batch.set(p, PROGRESS, dumps(progress))
        for agg, part in sorted(touched):
            wm = watermarks[(agg, part)]
            if wm is not None:
                batch.set(part, WATERMARK + names[agg], str(wm).encode())
                role.broadcast(agg, tick(agg, part, wm, "watermark"))
        await role.finish(batch, len(messages))
        self._count(len(messages), counts)

    def _has_rows(self, batch: AggBatch, wkey: tuple[str, int], name: bytes) -> bool:
        """Whether the partition may hold a row state of the aggregation: it held one when first
        asked after the assignment, or one was written since. When not, an events-mode event
        with an origin skips reading its key's state, which could only be missing."""
        known = self.has_rows.get(wkey)
        if known is None:
            known = self.has_rows[wkey] = next(batch.keys(wkey[1], ROWS + name + b"\x00"), None) is not None
        return known

    def _send(
        self,
        packer: Packer,
        pending: dict[tuple[str, int], list[Delta]],
        combinable: dict[int, bool],
        watermarks: dict[tuple[str, int], int | None],
        counts: Counter[tuple[str, str]],
    ) -> None:
        """Each (aggregation, clean partition)'s deltas, combined where allowed, then the rest."""
        specs = {spec.name: spec for spec in self.specs}
        for (name, p), deltas in pending.items():
            combined = combine(specs[name], deltas, watermarks[(name, p)]) if combinable[p] else None
            if combined is not None and packer.add_whole(name, combined):
                counts[(name, "combined")] += sum(d.events for d in combined if d.src[2] >= FIRST_INDEX)
            else:
                packer.add(name, deltas)
        packer.send()

    def _count(self, taken: int, counts: Counter[tuple[str, str]]) -> None:
        m = self.role.metrics
        m.events_in.labels(self.topic).inc(taken)
        for (label, what), n in counts.items():
            if what == "deltas":
                m.deltas.labels(label).inc(n)
            elif what == "combined":
                m.combined.labels(label).inc(n)
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
            batch = AggBatch(self.table)
            ticks: list[tuple[str, int, int]] = []
            for p, taken in sorted(self.last_taken.items()):
                tp = TP(self.topic, p)
                quiet = [s for s in self.specs if s.emit == "final" and now - taken >= s.idle_close_ms / 1000]
                if not quiet or not await self._caught_up(consumer, tp):
                    continue
                for spec in quiet:
                    key = WATERMARK + spec.name.encode()
                    raw = batch.get(p, key)
                    wm = max(now_ms - spec.idle_close_ms, int(raw) if raw is not None else 0)
                    if wm > self.idle_sent.get((spec.name, p), -1):
                        batch.set(p, key, str(wm).encode())
                        ticks.append((spec.name, p, wm))
            if not ticks:
                return
            await role.finish(batch, 0)  # the watermarks recorded before the downstream can see them
            for name, p, wm in ticks:
                self.idle_sent[(name, p)] = wm
                role.broadcast(name, tick(name, p, wm, "idle"))
                role.metrics.idle_ticks.labels(name).inc()
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
