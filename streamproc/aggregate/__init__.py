"""Windowed aggregations over clean change events: pure logic, no I/O.

Layer 1 (beside sources, pipeline and sinks): imports only errors, model, jsonutil and the
standard library. The runtime (``runtime/aggregations.py``) stores the JSON-serialisable state
these functions return in RocksDB tables; dry-run and the tests keep it in dicts
(:class:`~streamproc.aggregate.engine.Engine`).

Modules: :mod:`.spec` (the compiled configuration), :mod:`.windows` (window assignment in a
timezone), :mod:`.values` (numbers, field paths), :mod:`.metrics` (accumulators with add and
retract), :mod:`.delta` (the repartition message), :mod:`.upstream` (per entity key),
:mod:`.downstream` (per group: windows, watermarks, closing, lateness), :mod:`.engine` (both in
memory).
"""

from __future__ import annotations

from streamproc.aggregate.delta import Delta, Tick, decode_message, decode_messages, pack, partition_of, tick
from streamproc.aggregate.downstream import Result, WindowEngine
from streamproc.aggregate.engine import Engine
from streamproc.aggregate.spec import AggregationSpec, MetricSpec, WhereSpec, WindowSpec
from streamproc.aggregate.upstream import Upstream, upstream_step

__all__ = [
    "AggregationSpec",
    "MetricSpec",
    "WhereSpec",
    "WindowSpec",
    "Delta",
    "Tick",
    "tick",
    "decode_message",
    "decode_messages",
    "pack",
    "partition_of",
    "Upstream",
    "upstream_step",
    "WindowEngine",
    "Result",
    "Engine",
]
