"""The windows benchmark's pure ceiling: the per-event cost of ingest and of the aggregation in
this process, without Kafka, Faust or RocksDB (issue 11 §7's workload and aggregation).

    python bench/aggregation_ceiling.py [--events 40000] [--batch 2000] [--rounds 5]

What runs, per event, as the worker runs it:

1. ``ingest``: :class:`~streamproc.pipeline.processor.Processor` over the source record (decode,
   validate, dedupe against an in-memory state, transform, redact, the clean value encoded);
2. ``aggregation``: the clean value parsed, :func:`~streamproc.aggregate.upstream_step` against
   its row state (JSON, as stored), per batch and partition :func:`~streamproc.aggregate.combine.
   combine`, the deltas packed per repartition partition, decoded, and applied by a
   :class:`~streamproc.aggregate.WindowEngine` whose touched cells are decoded and encoded once
   per batch (as :class:`~streamproc.runtime.agg_state.JsonView` does).

It prints microseconds per event (the fastest of ``--rounds``) and ``ceiling_ratio`` =
ingest / (ingest + aggregation): what ``ingest_aggregation_eps / ingest_eps`` of
``bench/windows_bench.py`` would be if the framework cost nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.windows_bench import PARTITIONS, SOURCE, bench_records, write_config  # noqa: E402
from streamproc.aggregate import WindowEngine, decode_messages, pack, partition_of, upstream_step  # noqa: E402
from streamproc.aggregate.combine import combine  # noqa: E402
from streamproc.cli.dryrun import DictState  # noqa: E402
from streamproc.config.aggregations import aggregation_specs  # noqa: E402
from streamproc.config.loader import load_pipelines  # noqa: E402
from streamproc.config.settings import load_settings  # noqa: E402
from streamproc.jsonutil import dumps, loads  # noqa: E402
from streamproc.pipeline.processor import Emit, RawMessage  # noqa: E402
from streamproc.runtime.processor import build_processor  # noqa: E402


class BatchJson(MutableMapping[bytes, dict[str, Any]]):
    """Stored JSON values, decoded on first use in a batch and encoded at its end."""

    def __init__(self, stored: dict[bytes, bytes]) -> None:
        self.stored, self.cache, self.dirty = stored, {}, set()

    def __getitem__(self, key: bytes) -> dict[str, Any]:
        if key not in self.cache:
            self.cache[key] = loads(self.stored[key])
        return self.cache[key]

    def __setitem__(self, key: bytes, value: dict[str, Any]) -> None:
        self.cache[key] = value
        self.dirty.add(key)

    def __delitem__(self, key: bytes) -> None:
        self.stored.pop(key, None)
        self.cache.pop(key, None)
        self.dirty.discard(key)

    def __iter__(self) -> Iterator[bytes]:
        return iter(set(self.stored) | self.dirty)

    def __len__(self) -> int:
        return len(set(self.stored) | self.dirty)

    def end(self) -> None:
        for key in self.dirty:
            self.stored[key] = dumps(self.cache[key])


def ingest(processor: Any, records: list[tuple[bytes, bytes]]) -> tuple[float, list[tuple[int, int, bytes, bytes]]]:
    state = DictState()  # the worker's is RocksDB behind a batch overlay
    clean = []
    start = time.perf_counter()
    for i, (key, value) in enumerate(records):
        out = processor.process(RawMessage(SOURCE, key, value, [], i % PARTITIONS, i // PARTITIONS), state)
        if type(out) is Emit:
            clean.append((i % PARTITIONS, i // PARTITIONS, out.key, out.value))
    return time.perf_counter() - start, clean


def aggregate(spec: Any, clean: list[tuple[int, int, bytes, bytes]], batch: int) -> tuple[float, int]:
    rows: dict[tuple[int, bytes], bytes] = {}
    watermarks: dict[int, int | None] = {}
    cells: list[dict[bytes, bytes]] = [{} for _ in range(PARTITIONS)]
    metas: list[dict[bytes, bytes]] = [{} for _ in range(PARTITIONS)]
    results = 0
    start = time.perf_counter()
    for b in range(0, len(clean), batch):
        pending: dict[int, list[Any]] = {}
        for p, offset, key, value in clean[b : b + batch]:
            event = loads(value)
            raw = rows.get((p, key))
            step = upstream_step(spec, None if raw is None else loads(raw), event, (p, offset), watermarks.get(p))
            rows[(p, key)] = dumps(step.row_state)
            watermarks[p] = step.watermark_ms
            pending.setdefault(p, []).extend(step.deltas)
        out: dict[int, list[bytes]] = {}
        for p, deltas in pending.items():
            for d in combine(spec, deltas, watermarks[p]) or deltas:
                out.setdefault(partition_of(d.group_key, PARTITIONS), []).append(d.to_json())
        for r, values in out.items():
            views = BatchJson(cells[r]), BatchJson(metas[r])
            engine = WindowEngine(spec, views[0], views[1], upstream_partitions=PARTITIONS, partition=r)
            for item in decode_messages(pack(spec.name, values)):
                results += len(engine.apply(item))
            for view in views:
                view.end()
    return time.perf_counter() - start, results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=40_000)
    ap.add_argument("--batch", type=int, default=2000, help="events per batch (the worker's batch_size)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="streamproc-ceiling-") as tmp:
        # the clean events here are in source order (no disorder), so a 10 s grace closes the
        # windows as the run goes and adds no corrections
        settings = load_settings(pipelines=write_config(Path(tmp) / "pipelines.yaml", "10s"), dev=True)
        pipelines = load_pipelines(settings.pipelines)
    spec = aggregation_specs(pipelines)[0]
    records = list(bench_records(args.events))
    ingest_s, agg_s, results = float("inf"), float("inf"), 0
    for _ in range(args.rounds):
        seconds, clean = ingest(build_processor(settings, pipelines, offline=True), records)
        ingest_s = min(ingest_s, seconds)
        seconds, results = aggregate(spec, clean, args.batch)
        agg_s = min(agg_s, seconds)
    n = args.events
    report = {
        "events": n,
        "batch": args.batch,
        "ingest_us_per_event": round(ingest_s / n * 1e6, 1),
        "aggregation_us_per_event": round(agg_s / n * 1e6, 1),
        "results": results,
        "ceiling_ratio": round(ingest_s / (ingest_s + agg_s), 3),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
