"""Both steps of every aggregation in memory, dict-backed: dry-run and the property tests.

Deltas pass through :meth:`Delta.to_json`, :func:`pack` and :func:`decode_messages` as in the runtime; each clean
partition has its own watermark (the highest event time seen there).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from streamproc.aggregate.delta import Delta, Tick, decode_message, decode_messages, pack, tick
from streamproc.aggregate.downstream import Result, WindowEngine
from streamproc.aggregate.spec import AggregationSpec
from streamproc.aggregate.upstream import upstream_step
from streamproc.jsonutil import dumps

__all__ = ["Engine"]


class Engine:
    """``specs`` over one input; ``upstream_partitions`` is the clean topic's partition count."""

    def __init__(self, specs: Iterable[AggregationSpec], upstream_partitions: int = 1) -> None:
        self.specs = list(specs)
        self.rows: dict[str, dict[bytes, dict[str, Any]]] = {s.name: {} for s in self.specs}
        self.watermarks: dict[tuple[str, int], int | None] = {}
        self.engines = {s.name: WindowEngine(s, {}, {}, upstream_partitions=upstream_partitions) for s in self.specs}

    def feed(self, event: dict[str, Any], src: tuple[int, int]) -> list[Result]:
        """One clean event at (partition, offset): every result emitted because of it, in order
        (with ``emit: updates`` each update as it happens)."""
        out: list[Result] = []
        for spec in self.specs:
            if event.get("entity") != spec.entity:
                continue
            rows = self.rows[spec.name]
            key = dumps(event.get("key"))
            wm_key = (spec.name, src[0])
            step = upstream_step(spec, rows.get(key), event, src, self.watermarks.get(wm_key))
            if step.row_state is None:
                rows.pop(key, None)
            else:
                rows[key] = step.row_state
            self.watermarks[wm_key] = step.watermark_ms
            engine = self.engines[spec.name]
            if step.deltas:
                for msg in decode_messages(pack(spec.name, [d.to_json() for d in step.deltas])):
                    assert isinstance(msg, Delta)
                    out += engine.apply(msg)
            if step.watermark_ms is not None and not step.deltas:  # a filtered event's time
                out += self.tick(spec.name, src[0], step.watermark_ms, "watermark")
            out += engine.flush_updates(None)
        return out

    def tick(self, aggregation: str, upstream_partition: int, watermark_ms: int, closed_by: str) -> list[Result]:
        """A tick as the runtime sends it (e.g. ``closed_by: idle``)."""
        msg = decode_message(tick(aggregation, upstream_partition, watermark_ms, closed_by))
        assert isinstance(msg, Tick)
        return self.engines[aggregation].on_tick(msg)

    def end_of_input(self) -> list[Result]:
        """Every window still open, final with ``closed_by: end-of-input``."""
        out: list[Result] = []
        for spec in self.specs:
            out += self.engines[spec.name].end_of_input()
        return out
