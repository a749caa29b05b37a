"""The Quix Streams contender of bench/windows_bench.py (runs in var/quix-venv, env BENCH_*):
the clean order events, ``group_by`` region (Quix's repartition through Kafka),
``tumbling_window(1 min)`` with a ``reduce`` keeping count, sum of price, the distinct customers
and the sku counts, ``.final()``, top 10 skus, to an output topic. Writes the wall-clock time at
which the reducer has seen ``BENCH_EVENTS`` records to ``BENCH_DONE_FILE``.

Grace: ``BENCH_QUIX_GRACE_MS`` (default one hour, the default ``--grace`` of windows_bench, so
both do the same job). Quix closes a window by the stream time of its own (repartition)
partition, which runs ahead of the slower source partitions, so with a 10 s grace it skips most
records as late (about 90 % of 100,000 in one run, each logged) and never does the same work; with
an hour nothing is skipped. streamproc closes by the minimum watermark over the upstream
partitions and loses nothing at any grace, but a grace shorter than the clean topic's disorder
makes each change behind it a correction of a closed window (windows_bench reports both)."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from quixstreams import Application  # only installed in var/quix-venv

EXPECT = int(os.environ["BENCH_EVENTS"])
DONE = Path(os.environ["BENCH_DONE_FILE"])
START = Path(os.environ["BENCH_START_FILE"])
GRACE_MS = int(os.environ.get("BENCH_QUIX_GRACE_MS", 3_600_000))
seen = 0


def number(v: Any) -> float:
    if isinstance(v, dict):
        v = next(iter(v.values()), 0)
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def first() -> None:
    """The wall-clock time of the first record taken (the clock's start)."""
    if not START.exists():
        START.write_text(str(time.time()))


def count(n: int = 1) -> None:
    global seen
    seen += n
    if seen == EXPECT:
        DONE.write_text(str(time.time()))


def initializer(doc: dict[str, Any]) -> dict[str, Any]:
    count()
    return {
        "orders": 1,
        "revenue": number(doc.get("price")),
        "customers": {doc.get("customer"): 1},
        "skus": {doc.get("sku"): 1},
    }


def reducer(acc: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    count()
    acc["orders"] += 1
    acc["revenue"] += number(doc.get("price"))
    acc["customers"][doc.get("customer")] = 1
    skus = acc["skus"]
    skus[doc.get("sku")] = skus.get(doc.get("sku"), 0) + 1
    return acc


def result(window: dict[str, Any]) -> dict[str, Any]:
    acc = window["value"]
    top = sorted(acc["skus"].items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return {
        "start": window["start"],
        "orders": acc["orders"],
        "revenue": acc["revenue"],
        "customers": len(acc["customers"]),
        "top_skus": [{"value": k, "weight": w} for k, w in top],
    }


def main() -> None:
    app = Application(
        broker_address=os.environ["BENCH_BOOTSTRAP"],
        consumer_group=os.environ["BENCH_GROUP"],
        auto_offset_reset="earliest",
        state_dir=os.environ["BENCH_STATE_DIR"],
    )
    source = app.topic(
        os.environ["BENCH_SOURCE"],
        value_deserializer="json",
        timestamp_extractor=lambda value, headers, ts, kind: int(value.get("ts_ms") or ts),
    )
    sdf = app.dataframe(source)
    sdf = sdf.apply(lambda event: event.get("after") or {})
    sdf = sdf.update(lambda doc: first())
    sdf = sdf.group_by("region")
    window = sdf.tumbling_window(timedelta(minutes=1), grace_ms=timedelta(milliseconds=GRACE_MS))
    sdf = window.reduce(reducer, initializer).final()
    sdf = sdf.apply(result)
    sdf.to_topic(app.topic(os.environ["BENCH_SINK"], value_serializer="json"))
    app.run()


if __name__ == "__main__":
    main()
