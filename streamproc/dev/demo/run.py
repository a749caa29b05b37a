"""``streamproc demo``: embedded broker → generated change stream → worker → report. Stops by itself."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

from streamproc.dev.broker import free_port, maybe_embedded
from streamproc.dev.demo.generator import COLLECTIONS, generate
from streamproc.runtime.admin import ensure_topics

__all__ = ["run_demo", "parse_metrics"]

_SAMPLE = re.compile(r"^(streamproc_[a-z_]+?)(?:_total)?\{([^}]*)\} ([0-9.e+-]+)$")


def parse_metrics(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Prometheus text → {metric: {sorted label pairs: value}} for streamproc counters/gauges."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            labels = tuple(sorted(tuple(kv.split("=", 1)) for kv in re.findall(r'\w+="[^"]*"', m.group(2))))
            labels = tuple((k, v.strip('"')) for k, v in labels)
            out[m.group(1)][labels] = float(m.group(3))
    return out


def _total(metrics: dict, name: str, **match: str) -> int:
    return int(
        sum(
            v
            for labels, v in metrics.get(name, {}).items()
            if all(dict(labels).get(k) == want for k, want in match.items())
        )
    )


def _scrape(port: int) -> dict:
    import httpx

    try:
        return parse_metrics(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text)
    except httpx.HTTPError:
        return {}


def _produce(bootstrap: str, records: list) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 10, "enable.idempotence": True})
    for i, r in enumerate(records):
        p.produce(r.topic, r.value, r.key)
        if i % 2000 == 0:
            p.poll(0)
    if p.flush(60):
        raise RuntimeError("demo: could not produce the change stream")


SINKS = ("s3", "s3-archive", "opensearch", "warehouse")


class QueueConsumer(threading.Thread):
    """Plays the ETL consumer of the trigger queues: receives and deletes every message, counting
    them (a FIFO group delivers its next messages only after the received ones are deleted)."""

    def __init__(self, aws) -> None:
        super().__init__(name="demo-sqs-consumer", daemon=True)
        from streamproc.sinks.s3.aws import make_client

        self.sqs = make_client("sqs", aws)
        self.received: Counter = Counter()
        self.stopping = threading.Event()

    def drain_once(self) -> int:
        n = 0
        for url in self.sqs.list_queues().get("QueueUrls", []):
            while True:
                msgs = self.sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60
                ).get("Messages", [])
                if not msgs:
                    break
                self.sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)],
                )
                self.received[url.rsplit("/", 1)[-1]] += len(msgs)
                n += len(msgs)
        return n

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            try:
                self.drain_once()
            except Exception:  # noqa: BLE001 - a queue not created yet; try again
                continue

    def finish(self) -> Counter:
        self.stopping.set()
        self.join(30)
        self.drain_once()
        return self.received


def _sinks_done(metrics: dict, sinks: list[str]) -> bool:
    """Every sink has written (or sent to the DLQ) every clean event the ingest stage produced."""
    out = _total(metrics, "streamproc_events_out")
    return out > 0 and all(
        _total(metrics, "streamproc_sink_records", sink=s) + _total(metrics, "streamproc_sink_dlq", sink=s) >= out
        for s in sinks
    )


def run_demo(documents: int = 100, updates: int = 3, timeout: float = 300.0) -> int:
    from streamproc.config.settings import Settings
    from streamproc.dev.services import local_services

    say = lambda msg: print(msg, flush=True)  # noqa: E731
    work = Path(tempfile.mkdtemp(prefix="streamproc-demo-"))
    say(f"streamproc demo — working directory {work}")
    configured = os.environ.get("STREAMPROC_KAFKA_BOOTSTRAP")
    with maybe_embedded(configured, log_path=work / "broker.log") as bootstrap:
        say(f"[1/6] Kafka at {bootstrap} ({'configured' if configured else 'embedded tansu broker, in memory'})")
        base = Settings(kafka_bootstrap=bootstrap, datadir=work / "state", dev=True)
        with local_services(base, lambda note: say(f"      {note}")) as services:
            return _run(say, work, bootstrap, services, documents, updates, timeout)


def _run(say, work: Path, bootstrap: str, services, documents: int, updates: int, timeout: float) -> int:
    stream = generate(documents=documents, updates=updates)
    topics = sorted({f"cdc.{db}.{c}" for c, (db, *_r) in COLLECTIONS.items()})
    ensure_topics(bootstrap, topics, partitions=4)
    t0 = time.monotonic()
    _produce(bootstrap, stream.records)
    inj = stream.injected
    say(
        f"[2/6] produced {len(stream.records)} Debezium MongoDB change records to {len(topics)} topics in "
        f"{time.monotonic() - t0:.1f}s: {inj['insert']} inserts, {inj['update']} updates, {inj['replace']} "
        f"replaces, {inj['delete']} deletes (+{inj['tombstone']} tombstones); faults injected: "
        f"{inj['duplicate']} duplicates, {inj['reordered']} reordered, {inj['malformed']} malformed, "
        f"{inj['invalid']} rule violations"
    )
    port = free_port()
    prefix = "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMPROC_")}
    env.update(
        STREAMPROC_KAFKA_BOOTSTRAP=bootstrap,
        STREAMPROC_DEV="true",
        STREAMPROC_APP_ID=f"streamproc-demo-{uuid.uuid4().hex[:6]}-ingest",
        STREAMPROC_TOPIC_PREFIX=prefix,
        STREAMPROC_DATADIR=str(work / "state"),
        STREAMPROC_WEB_PORT=str(port),
        STREAMPROC_WEB_HOST="127.0.0.1",
    )
    env.update(services.env())
    if "STREAMPROC_PIPELINES" in os.environ:
        env["STREAMPROC_PIPELINES"] = os.environ["STREAMPROC_PIPELINES"]
    sinks = [s for s in SINKS if s != "opensearch" or services.settings.opensearch.url]
    log_path = work / "worker.log"
    say(
        f"[3/6] starting `streamproc worker` with every role: ingest + sinks {', '.join(sinks)} "
        f"(log: {log_path}, metrics: http://127.0.0.1:{port}/metrics)"
    )
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamproc.cli.main", "worker", "-l", "info"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    consumer = QueueConsumer(services.settings.aws)
    consumer.start()
    try:
        expected = len(stream.records)
        started = time.monotonic()
        first_seen = None
        seen = 0
        metrics: dict = {}
        while time.monotonic() - started < timeout:
            if proc.poll() is not None:
                say(f"worker exited early with code {proc.returncode}; see {log_path}")
                return 1
            time.sleep(1.0)
            metrics = _scrape(port) or metrics
            seen = _total(metrics, "streamproc_events_in")
            if seen and first_seen is None:
                first_seen = time.monotonic()
            if seen < expected:
                bar = "#" * int(30 * seen / expected)
                say(f"[4/6] ingest {seen:>6}/{expected} [{bar:<30}]")
                continue
            out = _total(metrics, "streamproc_events_out")
            say(
                "[5/6] sinks "
                + "  ".join(f"{s} {_total(metrics, 'streamproc_sink_records', sink=s):>5}/{out}" for s in sinks)
            )
            if _sinks_done(metrics, sinks):
                break
        all_done = time.monotonic() - (first_seen or started)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    if seen < expected or not _sinks_done(metrics, sinks):
        say(f"demo: not everything arrived within {timeout:.0f}s ({seen}/{expected} ingested); see {log_path}")
        return 1
    _report(say, metrics, inj, seen, all_done, prefix, sinks)
    _report_targets(say, services, consumer.finish())
    return 0


def _report(say, m: dict, inj, seen: int, all_done: float, prefix: str, sinks: list[str]) -> None:
    say("[6/6] done. What happened:")
    say(f"  {'entity':<30}{'events out':>11}{'duplicate':>11}{'stale':>8}{'filtered':>10}")
    entities = sorted({dict(lbl)["entity"] for lbl in m.get("streamproc_events_out", {})})
    for e in entities:
        say(
            f"  {e:<30}{_total(m, 'streamproc_events_out', entity=e):>11}"
            f"{_total(m, 'streamproc_events_dropped', entity=e, reason='duplicate'):>11}"
            f"{_total(m, 'streamproc_events_dropped', entity=e, reason='stale'):>8}"
            f"{_total(m, 'streamproc_events_dropped', entity=e, reason='operation'):>10}"
        )
    out = _total(m, "streamproc_events_out")
    dup = _total(m, "streamproc_events_dropped", reason="duplicate")
    stale = _total(m, "streamproc_events_dropped", reason="stale")
    skipped = _total(m, "streamproc_events_skipped")
    dlq = _total(m, "streamproc_events_dlq")
    say(f"  clean events: {out} on {prefix}.events.<entity>")
    say(
        f"  dropped: {dup} duplicates (injected {inj['duplicate']}), {stale} stale reorderings "
        f"(injected {inj['reordered']}); skipped: {skipped} tombstones"
    )
    say(
        f"  dead-letter: {dlq} on {prefix}.dlq (injected {inj['malformed']} malformed + "
        f"{inj['invalid']} rule violations)"
    )
    busy = sum(m.get("streamproc_batch_seconds_sum", {}).values())  # the worker's own batch timing
    say(
        f"  ingest: {seen} records; {busy:.2f}s spent in batches, Kafka flushes included "
        f"({seen / max(busy, 1e-6):,.0f} records/s); every sink done {all_done:.1f}s after the first record "
        "(one worker process, all roles; sampled each second)"
    )
    for s in sinks:
        say(
            f"  sink {s:<11} {_total(m, 'streamproc_sink_records', sink=s):>6} written, "
            f"{_total(m, 'streamproc_sink_dlq', sink=s):>4} to the DLQ, "
            f"{_total(m, 'streamproc_sink_retries', sink=s):>3} retries"
        )
    say(
        "  PII: users/owners e-mail and phone are partially masked, ssn/taxId/password removed, "
        "dateOfBirth hashed (config/pipelines.yaml)"
    )


def _report_targets(say, services, received: Counter) -> None:
    """Count what really landed, by asking each target (not the worker's metrics)."""
    from streamproc.config.settings import load_pipelines
    from streamproc.sinks.s3.aws import make_client

    s = services.settings
    sinks = load_pipelines(s.pipelines).sinks
    say("  landed, counted at each target:")
    s3 = make_client("s3", s.aws)
    for bucket, prefix, what in (
        (sinks.s3_trigger.bucket, sinks.s3_trigger.env, "change objects"),
        (sinks.s3_archive.bucket, sinks.s3_archive.prefix + "/", "archive objects"),
    ):
        n = sum(
            1
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
            if "/_streamproc/" not in "/" + obj["Key"]
        )
        say(f"    s3://{bucket}/{prefix}: {n} {what}")
    say(
        f"    SQS: {sum(received.values())} messages received (and deleted) by the demo's consumer "
        f"from {len(received)} queues"
    )
    if services.opensearch is not None:
        docs = {i: len(services.opensearch.documents(i)) for i in services.opensearch.indices()}
        say(f"    OpenSearch (stand-in): {sum(docs.values())} documents in {len(docs)} indices")
    dsn = s.warehouse.dsn.get_secret_value() if s.warehouse.dsn else ""
    if dsn.startswith("duckdb://"):
        import duckdb

        with duckdb.connect(dsn.removeprefix("duckdb://"), read_only=True) as con:
            tables = [
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                ).fetchall()
            ]
            rows = sum(con.execute(f'SELECT count(*) FROM public."{t}"').fetchone()[0] for t in tables)
        say(f"    warehouse (DuckDB {dsn.removeprefix('duckdb://')}): {rows} rows in {len(tables)} tables")
    say("Where to look next:")
    say("  - README.md (set-up), docs/ARCHITECTURE.md, docs/OPERATIONS.md (Kafka UI, replay, DLQ), docs/SINKS-*.md")
    say("  - streamproc dry-run --config config/pipelines.yaml dump.jsonl  # events + sink actions, offline")
    say("  - streamproc decode dump.jsonl                                   # inspect raw CDC messages")
    say(
        "  - streamproc dev   # every role on the embedded broker with local S3/SQS, DuckDB; docker compose up for the full stack"
    )
