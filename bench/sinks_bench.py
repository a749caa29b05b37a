"""End-to-end benchmark: source topic → ingest → S3 (+SQS), OpenSearch, warehouse; one worker
process per role, against moto (its own process), the OpenSearch stand-in (its own process) and a
real PostgreSQL. In the same run: the ingest-only figure (same events, ingest worker alone) and
the ceiling of the S3 target itself (concurrent raw PutObject calls against the same moto).

    .venv/bin/python bench/sinks_bench.py --events 10000 --docs 5000

Figures: events/s from the first to the last clean event for ingest-only; for end to end, from
the first clean event to the moment every sink has written every event (sampled every 0.25 s from
the workers' metrics, from their start), and each sink's batch latency (mean and p50/p99 from its histogram)."""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

import yaml  # noqa: E402
from ingest_bench import produce_events, rate, read_timestamps  # noqa: E402

from streamproc.dev.broker import EmbeddedBroker, free_port, stop_process  # noqa: E402
from streamproc.dev.services import MotoProcess, endpoint_env  # noqa: E402
from streamproc.runtime.admin import ensure_topics  # noqa: E402
from streamproc.sinks.s3.aws import boto_config, make_client  # noqa: E402
from tests.integration.workers import WorkerProcess, metric_total  # noqa: E402
from tests.services.postgres import LocalPostgres  # noqa: E402

ROLES = ("s3", "opensearch", "warehouse")  # one sink each in this benchmark's configuration


def write_config(path: Path, topic: str, bucket: str, queue: str) -> None:
    cfg = yaml.safe_load((REPO / "bench" / "pipelines.yaml").read_text())
    cfg["sources"][0]["topic"] = topic
    cfg["sinks"] = {
        "s3_trigger": {
            "bucket": bucket,
            "env": "prod/",
            "entities": {"items": {"collection": "items", "queue": queue}},
        },
        "opensearch": {},
        "warehouse": {"schema": "public", "entities": "all"},
    }
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def start_opensearch_fake(port: int) -> subprocess.Popen:
    code = (
        f"import sys, time; sys.path.insert(0, {str(REPO)!r})\n"
        "from streamproc.dev.opensearch_fake import OpenSearchFake\n"
        f"OpenSearchFake(port={port}).start()\n"
        "while True: time.sleep(3600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    import httpx

    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    stop_process(proc)
    raise RuntimeError("OpenSearch stand-in did not start")


def drain_queue(endpoint: str, queue: str, seconds: float) -> subprocess.Popen:
    """The trigger queue's consumer (moto's SQS slows down as a queue grows), as its own process."""
    code = f"""
import sys, time
sys.path.insert(0, {str(REPO)!r})
from streamproc.dev.services import moto_aws_settings
from streamproc.sinks.s3.aws import make_client
sqs = make_client("sqs", moto_aws_settings({endpoint!r}))
url = sqs.get_queue_url(QueueName={queue!r})["QueueUrl"]
end = time.monotonic() + {seconds}
while time.monotonic() < end:
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    if msgs:
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}} for i, m in enumerate(msgs)])
"""
    return subprocess.Popen([sys.executable, "-c", code])


def sink_written(workers: dict[str, WorkerProcess]) -> dict[str, float]:
    return {
        role: w.total("streamproc_sink_records_total") + w.total("streamproc_sink_dlq_total")  # 0 while down
        for role, w in workers.items()
    }


def sample_until_done(workers: dict[str, WorkerProcess], n: int, done_at: dict[str, float], deadline: float) -> None:
    """From the workers' start: the wall time at which each sink had written ``n`` records."""
    last = 0.0
    while time.monotonic() < deadline and len(done_at) < len(workers):
        written = sink_written(workers)
        for r, v in written.items():
            if v >= n and r not in done_at:
                done_at[r] = time.time()
        if time.monotonic() - last > 5:
            print(f"    … sinks {json.dumps({r: int(v) for r, v in written.items()})}", flush=True)
            last = time.monotonic()
        time.sleep(0.25)


def histogram(w: WorkerProcess, sink: str) -> dict[str, float]:
    m = w.samples()
    buckets = sorted(
        (float(dict(lbl)["le"]), v)
        for lbl, v in m["streamproc_sink_batch_seconds_bucket"].items()
        if dict(lbl)["sink"] == sink
    )
    count = metric_total(m, "streamproc_sink_batch_seconds_count", sink=sink)
    total = metric_total(m, "streamproc_sink_batch_seconds_sum", sink=sink)

    def q(p: float) -> float:
        for le, v in buckets:
            if v >= p * count:
                return le
        return float("inf")

    return {"batches": count, "mean_s": total / count if count else 0.0, "p50_le_s": q(0.5), "p99_le_s": q(0.99)}


def raw_put_rate(moto: MotoProcess, bucket: str, n: int = 1000, threads: int = 16) -> float:
    s3 = make_client("s3", moto.aws_settings(), boto_config(pool=threads))
    body = b"x" * 1100
    t = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"raw/{i}", Body=body), range(n)))
    return n / (time.monotonic() - t)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--docs", type=int, default=5_000)
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="streamproc-sinks-bench-"))
    print(f"sinks benchmark: {args.events} Debezium MongoDB events, {args.docs} documents; work dir {work}")
    results: dict[str, object] = {"events": args.events, "docs": args.docs}
    with EmbeddedBroker(log_path=work / "broker.log") as broker, contextlib.ExitStack() as services:
        bootstrap = broker.bootstrap
        moto = MotoProcess().start()
        services.callback(moto.stop)
        os_port = free_port()
        services.callback(stop_process, start_opensearch_fake(os_port))
        pg = LocalPostgres()
        services.callback(pg.cleanup)  # stops it, removes its directory
        pg.start()
        s3, sqs = make_client("s3", moto.aws_settings()), make_client("sqs", moto.aws_settings())
        s3.create_bucket(Bucket="bench-raw")
        results["moto_raw_puts_per_s"] = round(raw_put_rate(moto, "bench-raw"))
        print(f"  moto ceiling: {results['moto_raw_puts_per_s']} PutObject/s (16 threads, 1.1 KB)")
        for phase in ("ingest-only", "end-to-end"):
            uniq = uuid.uuid4().hex[:6]
            topic = f"bench{uniq}.benchdb.items"
            bucket, queue = f"bench-{uniq}", f"bench-{uniq}-items.fifo"
            s3.create_bucket(Bucket=bucket)
            sqs.create_queue(QueueName=queue, Attributes={"FifoQueue": "true"})
            config = work / f"{phase}.yaml"
            write_config(config, topic, bucket, queue)
            ensure_topics(bootstrap, [topic], 4)
            produce_events(bootstrap, topic, args.events, args.docs)
            dsn = pg.dsn_for(pg.create_database(f"bench_{uniq}"))
            env = {
                **endpoint_env(moto.aws_settings(), f"http://127.0.0.1:{os_port}", dsn),
                "STREAMPROC_SINK__CREATE_MISSING": "true",
            }
            roles = ("ingest",) + (ROLES if phase == "end-to-end" else ())
            workers = {
                r: WorkerProcess(
                    bootstrap,
                    work / f"{phase}-{r}",
                    config,
                    app_id=f"bench-{uniq}",
                    topic_prefix=f"bench{uniq}",
                    roles=r,
                    log_path=work / f"{phase}-{r}.log",
                    extra_env=env,
                    fast_group=True,
                )
                for r in roles
            }
            drain = drain_queue(moto.endpoint_url, queue, args.timeout) if phase == "end-to-end" else None
            for w in workers.values():
                w.start()
            done_at: dict[str, float] = {}
            sampler = None
            if phase == "end-to-end":
                sampler = threading.Thread(
                    target=sample_until_done,
                    daemon=True,
                    args=({r: workers[r] for r in ROLES}, args.events, done_at, time.monotonic() + args.timeout),
                )
                sampler.start()
            try:
                clean = f"bench{uniq}.events.items"
                ensure_topics(bootstrap, [clean], 4)  # so the reader's group joins with it (as ingest_bench does)
                stamps = read_timestamps(bootstrap, clean, args.events, args.timeout, workers["ingest"].proc)
                ingest_rate = rate(stamps)
                if phase == "ingest-only":
                    results["ingest_only_events_per_s"] = round(ingest_rate)
                    print(f"  ingest only: {ingest_rate:,.0f} events/s")
                    continue
                first = min(stamps) / 1000
                n = len(stamps)
                sampler.join()
                assert len(done_at) == len(ROLES), f"sinks not done within {args.timeout}s"
                e2e = n / (max(done_at.values()) - first)
                results["end_to_end_events_per_s"] = round(e2e)
                results["ingest_in_e2e_run_events_per_s"] = round(ingest_rate)
                results["per_sink_events_per_s"] = {r: round(n / (t - first)) for r, t in done_at.items()}
                results["batch_latency"] = {r: histogram(workers[r], r) for r in ROLES}
            finally:
                for w in workers.values():
                    w.kill()
                stop_process(drain)
    ratio = results["end_to_end_events_per_s"] / results["ingest_only_events_per_s"]  # type: ignore[operator]
    results["ratio_e2e_over_ingest_only"] = round(ratio, 3)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
