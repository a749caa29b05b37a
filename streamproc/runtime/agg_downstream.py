"""The second agent of the aggregation role: one per aggregation, reading its repartition topic
``<app_id>-agg-<name>-repartition`` (partitioned by group, deltas packed), applying deltas and ticks with a
:class:`~streamproc.aggregate.WindowEngine` per repartition partition, whose cells and meta live
in table ``agg-<name>`` (keys ``CELLS + …`` and ``META + …`` in the partition's database).

Results go to ``<prefix>.aggregates.<name>`` (windows) and ``<prefix>.aggregates.late``
(changes for windows no longer in state), keyed by the result key, and the batch is then recorded
by the same protocol as upstream (output durable, changelog, state + changelog offset in one
write per partition, offsets acknowledged). A crash re-applies the batch to the state before it,
so the same results (same revisions, same values) are produced again: a reader keeps the highest
revision per key, and equal revisions are equal copies. Deltas redelivered from upstream carry
an already applied ``src`` and change nothing (the engine's dedupe), so nothing counts twice.

``emit: updates``: each batch, and every ``aggregations.tick_interval`` seconds, the engine's
:meth:`~streamproc.aggregate.WindowEngine.flush_updates` emits what changed (its values never
depend on when it is called).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from faust.types import CollectionT, Message

from streamproc.aggregate import AggregationSpec, Delta, Result, WindowEngine, decode_messages
from streamproc.runtime.agg_state import CELLS, META, AggBatch, JsonView

if TYPE_CHECKING:
    from streamproc.runtime.aggregations import AggregationRuntime

__all__ = ["DownstreamRuntime"]

log = logging.getLogger("streamproc.aggregations")


class DownstreamRuntime:
    """The downstream agent of one aggregation (see the module docstring)."""

    def __init__(self, role: AggregationRuntime, spec: AggregationSpec, table: CollectionT, upstream_partitions: int):
        self.role = role
        self.spec = spec
        self.table = table
        self.upstream_partitions = upstream_partitions
        self.topic = role.repartition_topic(spec.name)
        self.lock = asyncio.Lock()
        self.owned: set[int] = set()

    def _engine(self, batch: AggBatch, partition: int) -> WindowEngine:
        return WindowEngine(
            self.spec,
            JsonView(batch, partition, CELLS),
            JsonView(batch, partition, META),
            upstream_partitions=self.upstream_partitions,
            partition=partition,
        )

    async def handle_batch(self, messages: list[Message]) -> None:
        async with self.lock:
            batch = AggBatch(self.table)
            engines: dict[int, WindowEngine] = {}
            results: list[Result] = []
            m = self.role.metrics
            name = self.spec.name
            for msg in messages:
                p = msg.partition
                engine = engines.get(p)
                if engine is None:
                    engine = engines[p] = self._engine(batch, p)
                try:
                    decoded = decode_messages(msg.value or b"")
                except ValueError:
                    m.skipped.labels(name, "malformed-repartition-message").inc()
                    log.warning("%s[%d]@%d: not deltas or a tick; skipped", self.topic, p, msg.offset)
                    continue
                for item in decoded:
                    if isinstance(item, Delta):
                        results += engine.apply(item)
                    else:
                        results += engine.on_tick(item)
            if self.spec.emit == "updates":
                now_ms = int(time.monotonic() * 1000)
                for engine in engines.values():
                    results += engine.flush_updates(now_ms)
            self._emit(results)
            await self.role.finish(batch, len(messages))

    async def flush_updates(self) -> None:
        """``emit: updates`` between batches: what changed on every owned partition."""
        if self.spec.emit != "updates" or not self.owned or self.role.app.rebalancing:
            return
        async with self.lock:
            batch = AggBatch(self.table)
            now_ms = int(time.monotonic() * 1000)
            results: list[Result] = []
            for p in sorted(self.owned):
                results += self._engine(batch, p).flush_updates(now_ms)
            batch.materialize()
            if results or batch.overlay:
                self._emit(results)
                await self.role.finish(batch, 0)

    def _emit(self, results: list[Result]) -> None:
        role = self.role
        produce = role.producer.produce
        m = role.metrics
        name = self.spec.name
        late_topic = role.settings.aggregates_late_topic
        out_topic = role.settings.aggregates_topic(name)
        for r in results:
            if r.topic_kind == "aggregate":
                produce(out_topic, r.key_bytes(), r.value_bytes())
                v = r.value
                kind = "final" if v.get("final") else "update"
                if v.get("final") and int(v.get("revision") or 0) > 1:
                    kind = "correction"
                m.results.labels(name, kind, str(v.get("closed_by") or "none")).inc()
            else:
                produce(late_topic, r.key_bytes(), r.value_bytes())
                m.late.labels(name).inc()
