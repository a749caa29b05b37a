"""Baseline for the benchmark: a naive Faust agent — JSON decode, one table write and one
awaited send per event. Run: faust -A bench.naive_faust worker (env BENCH_* set by the harness)."""

from __future__ import annotations

import json
import os

import faust

app = faust.App(
    os.environ.get("BENCH_APP_ID", "bench-naive"),
    broker=f"kafka://{os.environ['BENCH_BOOTSTRAP']}",
    store="rocksdb://",
    datadir=os.environ.get("BENCH_DATADIR", "var/bench-naive"),
    topic_partitions=int(os.environ.get("BENCH_PARTITIONS", "4")),
    consumer_auto_offset_reset="earliest",
    web_enabled=False,
    key_serializer="raw",
    value_serializer="raw",
)
source = app.topic(os.environ["BENCH_SOURCE"])  # raw bytes: the app's default serializers
sink = app.topic(os.environ["BENCH_SINK"])
positions = app.Table("positions", key_type=bytes, value_type=bytes)


@app.agent(source)
async def naive(stream):
    async for event in stream.events():
        doc = json.loads(event.value)
        src = doc["source"]
        positions[event.key] = json.dumps([src["ts_ms"], src["ord"]]).encode()
        await sink.send(key=event.key, value=event.value)
