"""The second step, keyed by GROUP (one repartition partition): windows, watermarks, closing,
corrections and late records.

State lives in two mappings the caller provides (the runtime's Faust tables, dicts elsewhere):
``cells`` — one JSON dict per (group, window): accumulators, revision, closed, late_changes,
incomplete, skipped; ``meta`` — per repartition ``partition``: watermarks per upstream partition,
the last applied ``src`` per upstream partition (dedupe), and indexes of open, closed and dirty
cells (so closing never scans the table).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from streamproc.aggregate.cells import CellStore
from streamproc.aggregate.delta import Delta, Tick
from streamproc.aggregate.result import Result
from streamproc.aggregate.spec import AggregationSpec

__all__ = ["WindowEngine", "Result"]


class WindowEngine:
    """Applies deltas and ticks of one aggregation on one repartition partition.

    ``upstream_partitions``: the clean topic's partition count; a window closes when the
    watermark of every one of them has passed ``end + grace``. ``partition`` separates the meta
    entries of the repartition partitions sharing one ``meta`` table.
    """

    def __init__(
        self,
        spec: AggregationSpec,
        cells: MutableMapping[bytes, dict[str, Any]],
        meta: MutableMapping[bytes, dict[str, Any]],
        upstream_partitions: int = 1,
        partition: int = 0,
    ) -> None:
        self.spec = spec
        self.store = CellStore(spec, cells, meta, upstream_partitions, partition)

    def apply(self, delta: Delta) -> list[Result]:
        """One delta: closes nothing by itself except through its watermark; returns corrections
        of closed windows, late records, and finals its watermark closed. A redelivered delta
        (``src`` not above the last applied one of its upstream partition) changes nothing."""
        return self.store.apply(delta)

    def advance(self, upstream_partition: int, watermark_ms: int, closed_by: str) -> list[Result]:
        """A tick: the finals of the windows the new minimum watermark closes, ``closed_by`` given."""
        return self.store.advance(upstream_partition, watermark_ms, closed_by)

    def on_tick(self, msg: Tick) -> list[Result]:
        """:meth:`advance` for a decoded tick message."""
        return self.advance(msg.upstream_partition, msg.watermark_ms, msg.closed_by)

    def end_of_input(self) -> list[Result]:
        """Every open window as final with ``closed_by: end-of-input`` (dry-run, tests)."""
        return self.store.end_of_input()

    def flush_updates(self, now_monotonic_ms: int | None) -> list[Result]:
        """``emit: updates``: the current result of each changed window not emitted within the
        last ``every`` (``None``: all changed windows now). Values and revisions are those of the
        state (revision = changes applied), so they never depend on when this is called."""
        return self.store.flush_updates(now_monotonic_ms)
