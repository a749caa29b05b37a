"""Ingest benchmark: streamproc worker vs. a raw confluent-kafka loop and a naive Faust agent.

    python bench/ingest_bench.py [--events 100000] [--docs 20000] [--rate 2000] [--latency-seconds 20]

Produces N Debezium MongoDB change events (~1 KB, JSON, legacy Extended JSON strings) for
``--docs`` documents over 4 partitions, then measures, in this one run:

1. raw: confluent-kafka consume → json decode → produce, one process (upper bound);
2. naive: a Faust agent with one table write and one awaited send per event;
3. streamproc: ``streamproc worker`` with bench/pipelines.yaml (decode, validate, dedupe on the
   source position in RocksDB, merge, redact two fields, produce);
4. latency: streamproc worker at a fixed offered rate; end-to-end latency = time the clean
   event is read back minus the source change time in the event;
5. raw-latency (run before 4): the same offered rate through a raw confluent-kafka relay, the
   broker's own latency floor on this machine.

1–3 read one pre-produced topic on one broker. 4 and 5 each start on a fresh embedded broker
(:func:`latency_broker`); the latency reader and the relay take what the client has fetched at
once (a 10 ms ``consume`` timeout), so the figure is not padded by the reader's own batching.

Throughput of each = events / (last output record's broker timestamp − first one's), i.e. the
steady processing rate excluding start-up and group join. Uses the embedded broker unless
STREAMPROC_KAFKA_BOOTSTRAP is set.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka import Consumer, Producer

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from streamproc.dev.broker import EmbeddedBroker, stop_process  # noqa: E402
from streamproc.runtime.admin import ensure_topics  # noqa: E402
from tests.integration.workers import WorkerProcess  # noqa: E402

PARTITIONS = 4
WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
]


def oid(i: int) -> str:
    """A realistic ObjectId: 4-byte time, 5 random-looking bytes, 3-byte counter (hex)."""
    return f"{0x65000000 + i // 50:08x}{hashlib.blake2b(str(i).encode(), digest_size=5).hexdigest()}{i & 0xFFFFFF:06x}"


def make_event(doc: int, version: int, ts_ms: int, ord_: int, rnd: random.Random) -> tuple[bytes, bytes]:
    """One Debezium MongoDB change event of about 1 KB (insert for version 0, else update)."""
    body = {
        "_id": {"$oid": oid(doc)},
        "name": f"facility {doc}",
        "email": f"owner{doc}@example.org",
        "phone": f"+1 555 {doc:07d}",
        "status": rnd.choice(["active", "pending", "cancelled"]),
        "version": {"$numberLong": str(version)},
        "price": {"$numberDecimal": f"{rnd.randint(1, 99999) / 100:.2f}"},
        "updatedAt": {"$date": ts_ms},
        "tags": rnd.sample(WORDS, 4),
        "notes": " ".join(rnd.choice(WORDS) for _ in range(80)),
    }
    value = {
        "op": "c" if version == 0 else "u",
        "ts_ms": ts_ms + 5,
        "before": None,
        "after": json.dumps(body),
        "updateDescription": None
        if version == 0
        else {
            "updatedFields": json.dumps({"version": version, "status": body["status"]}),
            "removedFields": None,
            "truncatedArrays": None,
        },
        "source": {
            "version": "2.7.0.Final",
            "connector": "mongodb",
            "name": "bench",
            "ts_ms": ts_ms,
            "snapshot": "false",
            "db": "benchdb",
            "collection": "items",
            "ord": ord_,
        },
    }
    key = json.dumps({"id": json.dumps({"$oid": oid(doc)})}).encode()
    return key, json.dumps(value).encode()


def produce_events(bootstrap: str, topic: str, n: int, docs: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "lz4"})
    versions = [0] * docs
    base = int(time.time()) * 1000
    for i in range(n):
        doc = i % docs
        key, value = make_event(doc, versions[doc], base + (i // 1000) * 1000, i % 1000 + 1, rnd)
        versions[doc] += 1
        p.produce(topic, value, key)
        if i % 5000 == 0:
            p.poll(0)
    assert p.flush(60) == 0


def read_timestamps(
    bootstrap: str, topic: str, expect: int, timeout: float, proc: subprocess.Popen | None = None
) -> list[int]:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([topic])
    stamps: list[int] = []
    deadline = time.monotonic() + timeout
    last_report = time.monotonic()
    while len(stamps) < expect and time.monotonic() < deadline:
        for m in c.consume(1000, 0.5):
            if m.error() is None:
                stamps.append(m.timestamp()[1])
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode} after {len(stamps)} records; see its log")
        if time.monotonic() - last_report > 5:
            print(f"    … {len(stamps)}/{expect} records on {topic}", flush=True)
            last_report = time.monotonic()
    c.close()
    return stamps


def rate(stamps: list[int]) -> float:
    if len(stamps) < 2:
        return 0.0
    span = (max(stamps) - min(stamps)) / 1000
    return len(stamps) / span if span > 0 else float("inf")


def raw_loop(bootstrap: str, source: str, sink: str, n: int | None = None) -> None:
    """The raw baseline: confluent-kafka consume → ``json.loads`` → produce. With ``n``: the
    throughput run, until ``n`` records (or 300 s). Without: the live relay of the latency run
    (short fetch wait, the source time as a header) until the process is stopped."""
    live = n is None
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-raw-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **({"fetch.wait.max.ms": 10} if live else {}),
        }
    )
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5 if live else 1})
    c.subscribe([source])
    done = 0
    deadline = time.monotonic() + 300
    while live or (done < n and time.monotonic() < deadline):
        for m in c.consume(1000, 0.01 if live else 0.5):
            if m.error() is not None:
                continue
            ts = json.loads(m.value())["source"]["ts_ms"]  # decode like a real consumer would
            headers = [("source_ts_ms", str(ts).encode())] if live else None
            p.produce(sink, m.value(), m.key(), headers=headers)
            done += 1
        p.poll(0)
    p.flush(60)
    c.close()


def bench_raw(bootstrap: str, source: str, n: int) -> float:
    sink = f"bench-raw-out-{uuid.uuid4().hex[:6]}"
    ensure_topics(bootstrap, [sink], PARTITIONS)
    raw_loop(bootstrap, source, sink, n)
    return rate(read_timestamps(bootstrap, sink, n, 120))


def bench_naive(bootstrap: str, source: str, n: int, workdir: Path) -> float:
    sink = f"bench-naive-out-{uuid.uuid4().hex[:6]}"
    ensure_topics(bootstrap, [sink], PARTITIONS)
    env = {
        **os.environ,
        "BENCH_BOOTSTRAP": bootstrap,
        "BENCH_SOURCE": source,
        "BENCH_SINK": sink,
        "BENCH_APP_ID": f"bench-naive-{uuid.uuid4().hex[:6]}",
        "BENCH_DATADIR": str(workdir / "naive"),
        "BENCH_PARTITIONS": str(PARTITIONS),
    }
    with open(workdir / "naive.log", "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "faust", "-A", "bench.naive_faust", "worker", "-l", "warn"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        return rate(read_timestamps(bootstrap, sink, n, 600, proc))
    finally:
        proc.terminate()
        proc.wait(30)


def start_worker(bootstrap: str, source: str, workdir: Path, name: str) -> tuple[WorkerProcess, str]:
    """``streamproc worker`` with production defaults (no shortened group timeouts or batch window)."""
    live = source.endswith("_live")
    w = WorkerProcess(
        bootstrap,
        workdir / name,
        REPO / "bench" / ("pipelines-live.yaml" if live else "pipelines.yaml"),
        app_id=f"bench-{name}-{uuid.uuid4().hex[:6]}",
        topic_prefix=f"bench{uuid.uuid4().hex[:6]}",
        log_path=workdir / f"{name}.log",
        loglevel="warning",
        fast_group=False,
        extra_env={"BENCH_SOURCE_TOPIC": source},
    ).start()
    clean = f"{w.topic_prefix}.events.{'items_live' if live else 'items'}"
    ensure_topics(bootstrap, [clean], PARTITIONS)  # so readers subscribing now see it at once
    return w, clean


def bench_streamproc(bootstrap: str, source: str, n: int, workdir: Path) -> float:
    w, clean = start_worker(bootstrap, source, workdir, "streamproc")
    try:
        return rate(read_timestamps(bootstrap, clean, n, 600, w.proc))
    finally:
        w.stop()


class RawRelay:
    """The latency baseline: :func:`raw_loop` in its own process, relaying a live topic."""

    def __init__(self, bootstrap: str, source: str, workdir: Path) -> None:
        self.sink = f"bench-raw-live-{uuid.uuid4().hex[:6]}"
        ensure_topics(bootstrap, [self.sink], PARTITIONS)
        with open(workdir / "relay.log", "wb") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "--relay", f"{bootstrap},{source},{self.sink}"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        stop_process(self.proc, 30)


def bench_latency(
    bootstrap: str, workdir: Path, docs: int, offered: int, seconds: int, contender: str = "streamproc"
) -> dict[str, float]:
    """Fixed offered rate against a running, caught-up worker (or, for ``contender="raw"``, the
    raw relay). Every event is generated up front with its *planned* send time as the source
    change time, so the latency includes any wait behind a backlog (no coordinated omission) and
    the generator's cost is outside the loop."""
    if contender == "raw":
        source = f"bench.raw.items_live_{uuid.uuid4().hex[:6]}"
        ensure_topics(bootstrap, [source], PARTITIONS)
        worker: WorkerProcess | RawRelay = RawRelay(bootstrap, source, workdir)
        clean = worker.sink
    else:
        source = "bench.benchdb.items_live"
        ensure_topics(bootstrap, [source], PARTITIONS)
        worker, clean = start_worker(bootstrap, source, workdir, "latency")
        worker.wait_ready()  # (the relay reads from the earliest offset: the warm-up shows it runs)
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-lat-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        }
    )
    c.subscribe([clean])
    rnd = random.Random(11)
    versions = [0] * docs
    # warm-up: measure the steady state, not the first fetches after start-up
    warm = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
    for i in range(200):
        key, value = make_event(i, 0, int(time.time() * 1000), i + 1, rnd)
        warm.produce(source, value, key)
    warm.flush(30)
    seen, deadline = 0, time.monotonic() + 120
    while seen < 200 and time.monotonic() < deadline:
        seen += sum(1 for m in c.consume(500, 0.5) if m.error() is None)
    versions[:200] = [1] * 200
    warmup_s = 10  # offered at the same rate but not measured: the first seconds after start-up are slower
    total = offered * (seconds + warmup_s)
    # The schedule starts after every event is generated: time a sample of the generator first
    # (a schedule starting earlier would open with a backlog the worker never saw).
    sample = time.perf_counter()
    for i in range(500):
        make_event(i, 1, 0, i + 1, random.Random(i))
    lead_s = 1.0 + 1.5 * total * (time.perf_counter() - sample) / 500
    t0_ms = int(time.time() * 1000 + lead_s * 1000)
    measured_from = t0_ms + warmup_s * 1000
    planned = [t0_ms + i * 1000 / offered for i in range(total)]
    events = []
    for i in range(total):
        doc = rnd.randrange(docs)
        events.append(make_event(doc, versions[doc] + 1, int(planned[i]), i + 1, rnd))
        versions[doc] += 1
    late_ms = time.time() * 1000 - t0_ms
    if late_ms > 0:
        print(
            f"    warning: event generation overran the schedule start by {late_ms:.0f} ms "
            f"(inside the {warmup_s} s warm-up: {late_ms < warmup_s * 1000})",
            flush=True,
        )
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
    latencies: list[float] = []
    windows: dict[int, list[float]] = {}
    stop = threading.Event()

    def reader() -> None:  # in its own thread; each consume blocks (GIL released) up to 10 ms
        while not stop.is_set():
            for m in c.consume(500, 0.01):
                if m.error() is None:
                    ts = int(dict(m.headers() or ())["source_ts_ms"])
                    lat = time.time() * 1000 - ts
                    windows.setdefault(int((ts - t0_ms) // 5000), []).append(lat)
                    if ts >= measured_from:
                        latencies.append(lat)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        sent = 0
        while sent < total:  # send everything that is due, then sleep a little
            now_ms = time.time() * 1000
            while sent < total and planned[sent] <= now_ms:
                key, value = events[sent]
                p.produce(source, value, key)
                sent += 1
            p.poll(0)
            time.sleep(0.005)
        p.flush(30)
        deadline = time.monotonic() + 60
        while len(latencies) < offered * seconds and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(5)
        c.close()
        worker.stop()
    latencies.sort()

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))]) if latencies else float("nan")

    by_window = {f"{w * 5}-{w * 5 + 5}s": round(sorted(v)[len(v) // 2]) for w, v in sorted(windows.items())}
    return {
        "received": len(latencies),
        "sent": offered * seconds,
        "warmup_s": warmup_s,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1]) if latencies else float("nan"),
        "p50_ms_by_5s_window": by_window,
    }


@contextlib.contextmanager
def latency_broker(bootstrap: str, broker: EmbeddedBroker | None, workdir: Path, name: str) -> Iterator[str]:
    """Each latency contender on a fresh embedded broker, so both start from the same state (one
    broker for both made the second contender run on a broker that had served the first and the
    throughput runs). With ``STREAMPROC_KAFKA_BOOTSTRAP`` the given broker is used."""
    if broker is None:
        yield bootstrap
        return
    with EmbeddedBroker(log_path=workdir / f"broker-{name}.log") as fresh:
        yield fresh.bootstrap


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--rate", type=int, default=2000, help="offered rate for the latency run")
    ap.add_argument("--latency-seconds", type=int, default=20)
    ap.add_argument("--skip", default="", help="comma list of raw,naive,streamproc,raw-latency,latency to skip")
    ap.add_argument("--relay", help=argparse.SUPPRESS)  # internal: run the raw relay (bootstrap,source,sink)
    args = ap.parse_args()
    if args.relay:
        raw_loop(*args.relay.split(","))
        return 0
    skip = set(filter(None, args.skip.split(",")))
    workdir = Path(tempfile.mkdtemp(prefix="streamproc-bench-"))
    print(f"work directory (logs): {workdir}", flush=True)
    bootstrap = os.environ.get("STREAMPROC_KAFKA_BOOTSTRAP")
    broker = None
    if not bootstrap:
        broker = EmbeddedBroker(log_path=workdir / "broker.log").start()
        bootstrap = broker.bootstrap
    results: dict[str, object] = {"events": args.events, "docs": args.docs, "partitions": PARTITIONS}
    try:
        source = "bench.benchdb.items"
        ensure_topics(bootstrap, [source], PARTITIONS)
        t0 = time.monotonic()
        produce_events(bootstrap, source, args.events, args.docs)
        print(f"produced {args.events} events to {source} in {time.monotonic() - t0:.1f}s", flush=True)
        if "raw" not in skip:
            results["raw_eps"] = round(bench_raw(bootstrap, source, args.events))
            print(f"raw confluent-kafka loop: {results['raw_eps']} events/s", flush=True)
        if "naive" not in skip:
            results["naive_faust_eps"] = round(bench_naive(bootstrap, source, args.events, workdir))
            print(f"naive Faust agent: {results['naive_faust_eps']} events/s", flush=True)
        if "streamproc" not in skip:
            results["streamproc_eps"] = round(bench_streamproc(bootstrap, source, args.events, workdir))
            print(f"streamproc worker: {results['streamproc_eps']} events/s", flush=True)
        for name, contender, label in (
            ("raw_latency", "raw", "raw relay latency"),
            ("latency", "streamproc", "latency"),
        ):
            if name.replace("_", "-") in skip:
                continue
            with latency_broker(bootstrap, broker, workdir, name) as where:
                results[name] = bench_latency(where, workdir, args.docs, args.rate, args.latency_seconds, contender)
            results["latency_offered_eps"] = args.rate
            print(f"{label} at {args.rate} events/s offered: {results[name]}", flush=True)
        if results.get("naive_faust_eps") and results.get("streamproc_eps"):
            results["ratio_vs_naive"] = round(results["streamproc_eps"] / results["naive_faust_eps"], 2)
        if results.get("raw_eps") and results.get("streamproc_eps"):
            results["ratio_vs_raw"] = round(results["streamproc_eps"] / results["raw_eps"], 3)
        print(json.dumps(results, indent=2))
    finally:
        if broker is not None:
            broker.stop()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
