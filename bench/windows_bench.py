"""Windows benchmark (issue 11 §7): ingest alone, ingest + a windowed aggregation, and Quix Streams.

    python bench/windows_bench.py [--events 100000] [--grace 1h] [--skip quix]

Workload: N Debezium MongoDB change events (inserts, ~0.5 KB) over 4 partitions, one per
document, event times 20 ms apart (N events span N/3000 minutes). The aggregation: events mode,
tumbling 1 minute, group by ``region`` (50 values), count + sum(price) + count_distinct(customer)
+ top_k(sku, 10), ``emit: final``, ``grace`` as ``--grace`` (default 1h, Quix's: see
:func:`write_config`). In one run, one worker each:

1. ``ingest``: ``streamproc worker --role ingest`` (decode, validate, dedupe, produce);
2. ``ingest_aggregation``: ``--role ingest,aggregations`` in one process, the same events;
2b. ``two_workers``: ``--role aggregations`` and ``--role ingest`` as two processes at once (one
   per role, as the Helm chart deploys them; not the one worker of the targets);
3. ``aggregation``: ``--role aggregations`` alone over the clean topic of run 1;
4. ``quix``: Quix Streams (``bench/quix_windows.py``) over the same clean topic: ``group_by``
   region (its repartition), ``tumbling_window(1 min)``, ``reduce`` (count, sum, set of
   customers, sku counts) ``.final()``. quixstreams pins confluent-kafka < 2.13 while streamproc
   pins 2.16.1, so it runs in its own virtualenv, ``var/quix-venv``, created here on first use
   from ``bench/requirements-quix.txt``.

Throughput = events / (done − start), all read from the broker or the run itself: start = the
timestamp of the first clean record (ingest runs), of the first repartition record (aggregation
alone), the first record Quix took; done = the last clean record (ingest), the last record of the
aggregation table's changelog (written once a batch's results are durable, after the group read
every event and committed the whole repartition topic), the last record Quix took. After the
clocks, outside them: the clean topic's disorder (``clean_disorder_s``) and each aggregation run's
results and corrections (revision above 1), read from the broker. Figures are the lead's to
measure (docs/PERFORMANCE.md); a smoke run: ``--events 2000``. Uses the embedded broker unless
STREAMPROC_KAFKA_BOOTSTRAP is set.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import yaml
from confluent_kafka import Consumer, Producer, TopicPartition

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.ingest_bench import read_timestamps  # noqa: E402
from streamproc.dev.broker import EmbeddedBroker  # noqa: E402
from streamproc.runtime.admin import ensure_topics  # noqa: E402
from tests.integration.workers import WorkerProcess, read_topic, wait_for  # noqa: E402

PARTITIONS = 4
SOURCE = "bench.benchdb.orders"
QUIX_VENV = REPO / "var" / "quix-venv"
QUIX_REQUIREMENTS = REPO / "bench" / "requirements-quix.txt"


def write_config(path: Path, grace: str = "1h") -> Path:
    """The benchmark's pipelines file. ``grace``: the default (1 h, the grace Quix needs to skip
    nothing) covers the clean topic's disorder (:func:`disorder_ms`: ingest takes each raw
    partition's backlog in long runs, so one clean partition's event times went back by 9 to 33
    minutes, of the 33 the events span, in the runs of docs/PERFORMANCE.md); a shorter grace
    turns the changes behind it into corrections of closed windows (late changes: one result
    each, never combined), work Quix does not do."""
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "defaults": {"key": ["_id"], "format": "debezium-mongodb"},
                "sources": [{"entity": "orders", "topic": SOURCE}],
                "aggregations": [
                    {
                        "name": "orders_per_minute",
                        "entity": "orders",
                        "mode": "events",
                        "window": {"type": "tumbling", "size": "1m"},
                        "group_by": ["region"],
                        "metrics": {
                            "orders": {"count": "*"},
                            "revenue": {"sum": "price"},
                            "customers": {"count_distinct": "customer"},
                            "top_skus": {"top_k": {"field": "sku", "k": 10}},
                        },
                        "grace": grace,
                        # past the run's end: the clock stops at the last changelog record, which
                        # an idle close would write later
                        "idle_close": "60s",
                    }
                ],
            }
        )
    )
    return path


def bench_records(n: int, seed: int = 11) -> Iterator[tuple[bytes, bytes]]:
    """The workload's ``n`` (key, value) source records, event times 20 ms apart from an hour ago."""
    rnd = random.Random(seed)
    base = (int(time.time() * 1000) - 3_600_000) // 60_000 * 60_000
    for i in range(n):
        ts = base + i * 20
        doc = {
            "_id": {"$oid": f"{0x66000000 + i:024x}"},
            "region": f"region-{rnd.randrange(50):02d}",
            "price": {"$numberDecimal": f"{rnd.randint(100, 99999) / 100:.2f}"},
            "customer": f"customer-{rnd.randrange(5000)}",
            "sku": f"sku-{int(rnd.paretovariate(1.2)) % 500}",
            "note": " ".join(rnd.choice(("alpha", "bravo", "charlie", "delta")) for _ in range(40)),
        }
        value = {
            "op": "c",
            "ts_ms": ts + 5,
            "before": None,
            "after": json.dumps(doc),
            "source": {"connector": "mongodb", "name": "bench", "ts_ms": ts, "db": "benchdb", "collection": "orders"},
        }
        yield json.dumps({"id": json.dumps(doc["_id"])}).encode(), json.dumps(value).encode()


def produce_events(bootstrap: str, n: int, seed: int = 11) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "lz4"})
    for i, (key, value) in enumerate(bench_records(n, seed)):
        p.produce(SOURCE, value, key)
        if i % 5000 == 0:
            p.poll(0)
    assert p.flush(60) == 0


def disorder_ms(bootstrap: str, topic: str) -> int:
    """How far back in event time (``ts_ms``) a clean event goes behind the highest one before it
    in its partition: the grace a window needs for none of them to be a late change."""
    newest: dict[int, int] = {}
    worst = 0
    for m in read_topic(bootstrap, topic):
        t = int(json.loads(m.value())["ts_ms"])
        top = newest.get(m.partition(), t)
        worst = max(worst, top - t)
        newest[m.partition()] = max(top, t)
    return worst


def result_counts(bootstrap: str, topic: str) -> tuple[int, int]:
    """(results, of them corrections: revision above 1) on the aggregation's output topic."""
    values = [json.loads(m.value()) for m in read_topic(bootstrap, topic)]
    return len(values), sum(1 for v in values if v.get("revision", 1) > 1)


def first_stamp(bootstrap: str, topic: str) -> int:
    """The smallest broker timestamp of the first record of each partition of ``topic``."""
    return min(read_timestamps(bootstrap, topic, 1, 60) or [0])


def committed_all(bootstrap: str, group: str, topic: str) -> bool:
    """Whether ``group`` has committed every partition of ``topic`` up to its end."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        tps = [TopicPartition(topic, p) for p in md.partitions]
        committed = c.committed(tps, timeout=10)
        for tp in committed:
            _low, high = c.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
            if high > 0 and tp.offset < high:
                return False
        return True
    finally:
        c.close()


def worker(bootstrap: str, cfg: Path, workdir: Path, name: str, roles: str, prefix: str) -> WorkerProcess:
    return WorkerProcess(
        bootstrap,
        workdir / name,
        cfg,
        app_id=f"bench-{name}-{uuid.uuid4().hex[:6]}",
        topic_prefix=prefix,
        roles=roles,
        log_path=workdir / f"{name}.log",
        loglevel="warning",
        fast_group=False,
        extra_env={"STREAMPROC_PARTITIONS": str(PARTITIONS)},
    ).start()


def bench_ingest(bootstrap: str, cfg: Path, workdir: Path, n: int) -> tuple[float, str]:
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    clean = f"{prefix}.events.orders"
    # retention.ms set explicitly: Quix's group_by copies it from the topic's configs
    ensure_topics(bootstrap, [clean], PARTITIONS, configs={clean: {"cleanup.policy": "delete", "retention.ms": "-1"}})
    w = worker(bootstrap, cfg, workdir, "ingest", "ingest", prefix)
    try:
        stamps = read_timestamps(bootstrap, clean, n, 600, w.proc)
    finally:
        w.stop()
    span = (max(stamps) - min(stamps)) / 1000 if len(stamps) > 1 else 0
    return (len(stamps) / span if span else 0.0), clean


def aggregated(bootstrap: str, w: WorkerProcess, n: int) -> int:
    """Wait until ``w``'s aggregation group read all ``n`` events and committed the whole
    repartition topic; the broker timestamp (ms) of the last record of its table's changelog."""
    group = f"{w.app_id.removesuffix('-ingest')}-aggregations"
    repartition = f"{w.app_id}-agg-orders_per_minute-repartition"
    wait_for(lambda: w.total("streamproc_aggregation_events_in_total") >= n, 900, interval=1.0, message="all events")
    wait_for(lambda: committed_all(bootstrap, group, repartition), 300, interval=1.0, message="deltas applied")
    return max(m.timestamp()[1] for m in read_topic(bootstrap, f"{group}-agg-orders_per_minute-changelog"))


def bench_aggregation(
    bootstrap: str, cfg: Path, workdir: Path, n: int, roles: str, prefix: str
) -> tuple[float, tuple[int, int]]:
    """``roles`` over the events; done at the broker timestamp of the last record of the
    aggregation table's changelog (written once a batch's results are durable, just before its
    state), once the aggregation group has committed the whole repartition topic and read all
    ``n`` events; with the result counts (:func:`result_counts`). The clock starts at the first
    clean record (with ingest) or the first repartition record (aggregation alone), so start-up
    and group join are left out. Both ends are read from the broker, so the polling (once a
    second: scraping the worker's metrics costs the worker and this process CPU the run needs)
    adds nothing to the figure."""
    name = roles.replace(",", "_")
    w = worker(bootstrap, cfg, workdir, name, roles, prefix)
    repartition = f"{w.app_id}-agg-orders_per_minute-repartition"
    try:
        done_ms = aggregated(bootstrap, w, n)
    finally:
        w.stop()
    start = f"{prefix}.events.orders" if "ingest" in roles else repartition
    eps = n / ((done_ms - first_stamp(bootstrap, start)) / 1000)
    return eps, result_counts(bootstrap, f"{prefix}.aggregates.orders_per_minute")


def bench_two_workers(bootstrap: str, cfg: Path, workdir: Path, n: int) -> float:
    """Ingest and the aggregation as two workers, one process each, side by side (what a
    deployment with one Deployment per role runs; not the "one worker" of issue 11 §7): the
    aggregation worker ready first, then an ingest worker over the same events; clock as
    :func:`bench_aggregation` with ingest (first clean record to the last changelog record)."""
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    clean = f"{prefix}.events.orders"
    ensure_topics(bootstrap, [clean], PARTITIONS, configs={clean: {"cleanup.policy": "delete", "retention.ms": "-1"}})
    agg = worker(bootstrap, cfg, workdir, "two_aggregations", "aggregations", prefix)
    ingest = None
    try:
        agg.wait_ready(180)
        ingest = worker(bootstrap, cfg, workdir, "two_ingest", "ingest", prefix)
        done_ms = aggregated(bootstrap, agg, n)
    finally:
        for w in (ingest, agg):
            if w is not None:
                w.stop()
    return n / ((done_ms - first_stamp(bootstrap, clean)) / 1000)


def quix_python() -> Path:
    """The interpreter of ``var/quix-venv`` (created with quixstreams on first use)."""
    python = QUIX_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(QUIX_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(QUIX_REQUIREMENTS)], check=True)
    return python


def bench_quix(bootstrap: str, clean: str, workdir: Path, n: int) -> float:
    done_file = workdir / "quix.done"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STREAMPROC_")},
        "BENCH_BOOTSTRAP": bootstrap,
        "BENCH_SOURCE": clean,
        "BENCH_SINK": f"bench-quix-out-{uuid.uuid4().hex[:6]}",
        "BENCH_GROUP": f"bench-quix-{uuid.uuid4().hex[:6]}",
        "BENCH_STATE_DIR": str(workdir / "quix-state"),
        "BENCH_EVENTS": str(n),
        "BENCH_DONE_FILE": str(done_file),
        "BENCH_START_FILE": str(workdir / "quix.start"),
    }
    with open(workdir / "quix.log", "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [str(quix_python()), str(REPO / "bench" / "quix_windows.py")], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_for(lambda: done_file.exists() or proc.poll() is not None, 900, interval=0.2, message="Quix done")
        if not done_file.exists():
            raise RuntimeError(f"Quix Streams exited with {proc.returncode}; see {workdir / 'quix.log'}")
        done = float(done_file.read_text())
        start = float((workdir / "quix.start").read_text())
    finally:
        proc.terminate()
        proc.wait(30)
    return n / (done - start)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--grace", default="1h", help="the aggregation's grace (write_config says why)")
    ap.add_argument("--skip", default="", help="comma list of ingest_aggregation,two_workers,aggregation,quix to skip")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    workdir = Path(tempfile.mkdtemp(prefix="streamproc-windows-bench-"))
    print(f"work directory (logs): {workdir}", flush=True)
    bootstrap = os.environ.get("STREAMPROC_KAFKA_BOOTSTRAP")
    broker = None
    if not bootstrap:
        broker = EmbeddedBroker(log_path=workdir / "broker.log").start()
        bootstrap = broker.bootstrap
    results: dict[str, float | int] = {"events": args.events, "partitions": PARTITIONS}
    try:
        cfg = write_config(workdir / "pipelines.yaml", args.grace)
        results["grace"] = args.grace
        ensure_topics(bootstrap, [SOURCE], PARTITIONS)
        produce_events(bootstrap, args.events)
        ingest, clean = bench_ingest(bootstrap, cfg, workdir, args.events)
        results["ingest_eps"] = round(ingest)
        results["clean_disorder_s"] = round(disorder_ms(bootstrap, clean) / 1000, 1)
        print(f"ingest only: {results['ingest_eps']} events/s", flush=True)
        if "ingest_aggregation" not in skip:
            prefix = f"bench{uuid.uuid4().hex[:6]}"
            eps, counts = bench_aggregation(bootstrap, cfg, workdir, args.events, "ingest,aggregations", prefix)
            results["ingest_aggregation_eps"] = round(eps)
            results["ingest_aggregation_results"], results["ingest_aggregation_corrections"] = counts
            results["ratio_vs_ingest"] = round(eps / ingest, 3) if ingest else 0
            print(f"ingest + aggregation: {results['ingest_aggregation_eps']} events/s", flush=True)
        if "two_workers" not in skip:
            eps = bench_two_workers(bootstrap, cfg, workdir, args.events)
            results["two_workers_eps"] = round(eps)
            results["two_workers_ratio_vs_ingest"] = round(eps / ingest, 3) if ingest else 0
            print(f"ingest and aggregation, two workers: {results['two_workers_eps']} events/s", flush=True)
        if "aggregation" not in skip:
            prefix = clean.removesuffix(".events.orders")
            eps, counts = bench_aggregation(bootstrap, cfg, workdir, args.events, "aggregations", prefix)
            results["aggregation_eps"] = round(eps)
            results["aggregation_results"], results["aggregation_corrections"] = counts
            print(f"aggregation alone (clean topic): {results['aggregation_eps']} events/s", flush=True)
        if "quix" not in skip:
            results["quix_eps"] = round(bench_quix(bootstrap, clean, workdir, args.events))
            print(f"Quix Streams (clean topic): {results['quix_eps']} events/s", flush=True)
            if results.get("aggregation_eps") and results["quix_eps"]:
                results["ratio_vs_quix"] = round(results["aggregation_eps"] / results["quix_eps"], 3)
        print(json.dumps(results, indent=2))
    finally:
        if broker is not None:
            broker.stop()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
