"""What a live consumer costs the embedded broker (tansu) as a partition's stored batches grow.

    python bench/broker_fetch_cost.py [--stored 6000]

A diagnostic, not a benchmark of streamproc: it explains the growth of the broker's CPU seen in
bench/ingest_bench.py's latency runs (docs/PERFORMANCE.md). On a fresh embedded broker, a
one-partition topic is streamed 600 records of 1 KB while a consumer follows it with a 10 ms
fetch wait, and the broker's CPU time for that is read from /proc:

1. fresh topic, 2 records per produce request;
2. the same after ``--stored`` single-record batches were written to the partition;
3. the same stored count, 20 records per produce request (a tenth of the batches);
4. the partition read back in bulk from offset 0 by a new consumer (no live producer).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from streamproc.dev.broker import EmbeddedBroker
from streamproc.runtime.admin import ensure_topics


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stream(bootstrap: str, pid: int, topic: str, per_request: int) -> float:
    """Broker CPU seconds to carry 600 records from a live producer to a live consumer."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex, "fetch.wait.max.ms": 10})
    consumer.assign([TopicPartition(topic, 0, -1)])  # from the end: only the live records
    time.sleep(1)

    def send() -> None:
        for _ in range(600 // per_request):
            for _ in range(per_request):
                producer.produce(topic, b" " * 1000)
            producer.flush()
            time.sleep(0.0025 * per_request)  # 400 records/s either way

    before = cpu_seconds(pid)
    sender = threading.Thread(target=send)
    sender.start()
    got, deadline = 0, time.monotonic() + 60
    while got < 600 and time.monotonic() < deadline:
        got += sum(1 for m in consumer.consume(100, 0.01) if m.error() is None)
    sender.join()
    consumer.close()
    if got < 600:
        raise SystemExit(f"only {got}/600 records came back within 60 s")
    return cpu_seconds(pid) - before


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stored", type=int, default=6000, help="single-record batches stored before step 2")
    args = ap.parse_args()
    with EmbeddedBroker() as broker:
        pid, bootstrap = broker.pid, broker.bootstrap
        assert pid is not None
        topic = "cost"
        ensure_topics(bootstrap, [topic], 1)
        print(
            f"1. fresh partition, 2 records per request: broker CPU {stream(bootstrap, pid, topic, 2):.2f} s",
            flush=True,
        )
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
        for i in range(args.stored):
            producer.produce(topic, b"0")
            producer.flush()  # one request, one stored batch
            if i % 1000 == 999:
                print(f"   … {i + 1} batches stored", flush=True)
        print(
            f"2. +{args.stored} stored batches, 2 records per request: broker CPU "
            f"{stream(bootstrap, pid, topic, 2):.2f} s",
            flush=True,
        )
        print(f"3. the same, 20 records per request: broker CPU {stream(bootstrap, pid, topic, 20):.2f} s", flush=True)
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex})
        consumer.assign([TopicPartition(topic, 0, 0)])
        before, got = cpu_seconds(pid), 0
        while got < args.stored:
            got += sum(1 for m in consumer.consume(1000, 0.5) if m.error() is None)
        consumer.close()
        print(
            f"4. {got} records read back in bulk from offset 0: broker CPU {cpu_seconds(pid) - before:.2f} s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
