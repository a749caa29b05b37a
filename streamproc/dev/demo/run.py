"""``streamproc demo``: embedded broker → generated change stream → worker → report. Stops by itself."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from streamproc.dev.broker import free_port, maybe_embedded
from streamproc.dev.demo.aggregates import final_wait_seconds, finals_seen, report_aggregates
from streamproc.dev.demo.generator import COLLECTIONS, Record, generate
from streamproc.dev.demo.metrics import Metrics, expected_records, metric_total, scrape, sinks_done
from streamproc.dev.demo.report import Say, pii_summary, report_metrics, report_next, report_targets
from streamproc.dev.demo.shadow import TRIGGER_ENV, parity_table, put_objects, shadow_config, trigger_objects
from streamproc.errors import ExitCode
from streamproc.runtime.admin import ensure_topics

if TYPE_CHECKING:
    from streamproc.config.pipelines import PipelinesSpec
    from streamproc.config.settings import AwsSettings
    from streamproc.dev.services import LocalServices

__all__ = ["run_demo", "QueueConsumer", "SINKS"]

SINKS = ("s3", "s3-archive", "opensearch", "warehouse", "eventbridge")


def _produce(bootstrap: str, records: Sequence[Record]) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 10, "enable.idempotence": True})
    for i, r in enumerate(records):
        p.produce(r.topic, r.value, r.key)
        if i % 2000 == 0:
            p.poll(0)
    if p.flush(60):
        raise RuntimeError("demo: could not produce the change stream")


class QueueConsumer(threading.Thread):
    """Plays the ETL consumer of the trigger queues: receives and deletes every message, counting
    them (a FIFO group delivers its next messages only after the received ones are deleted)."""

    def __init__(self, aws: AwsSettings) -> None:
        super().__init__(name="demo-sqs-consumer", daemon=True)
        from streamproc.sinks.s3.aws import make_client

        self.sqs = make_client("sqs", aws)
        self.received: Counter[str] = Counter()
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

    def finish(self) -> Counter[str]:
        self.stopping.set()
        self.join(30)
        self.drain_once()
        return self.received


def run_demo(documents: int = 100, updates: int = 3, timeout: float = 300.0) -> int:
    """Run the whole demo and print its report; the exit code (0: every sink got every event)."""
    from streamproc.config.settings import Settings
    from streamproc.dev.services import local_services

    def say(msg: str) -> None:
        print(msg, flush=True)

    work = Path(tempfile.mkdtemp(prefix="streamproc-demo-"))
    say(f"streamproc demo — working directory {work}")
    configured = os.environ.get("STREAMPROC_KAFKA_BOOTSTRAP")
    with maybe_embedded(configured, log_path=work / "broker.log") as bootstrap:
        say(f"[1/6] Kafka at {bootstrap} ({'configured' if configured else 'embedded tansu broker, in memory'})")
        base = Settings(kafka_bootstrap=bootstrap, datadir=work / "state", dev=True)
        with local_services(base, lambda note: say(f"      {note}")) as services:
            return _run(say, work, bootstrap, services, documents, updates, timeout)


def _run(
    say: Say, work: Path, bootstrap: str, services: LocalServices, documents: int, updates: int, timeout: float
) -> int:
    from streamproc.config.loader import load_pipelines

    shipped = Path(os.environ.get("STREAMPROC_PIPELINES") or services.settings.pipelines)
    spec = load_pipelines(shipped)
    shadow = spec.sinks.s3_trigger is not None
    if shadow:  # streamproc writes dev/ while the played triggers write prod/
        pipelines = shadow_config(shipped, work / "pipelines.yaml")
        spec = load_pipelines(pipelines)
    else:
        pipelines = shipped
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
    env["STREAMPROC_PIPELINES"] = str(pipelines)
    sinks = [s for s in SINKS if s != "opensearch" or services.settings.opensearch.url]
    only: dict[str, list[str]] = {}
    if spec.sinks.eventbridge is not None:
        from streamproc.dev.demo import eventbridge

        eventbridge.create_route(services.settings.aws)
        env.update(eventbridge.worker_env())
        only["eventbridge"] = spec.sinks.eventbridge.entities
        say(
            f"      EventBridge: bus {eventbridge.BUS}, rule {eventbridge.RULE} (Source {eventbridge.SOURCE_PREFIX}.*) "
            f"→ SQS {eventbridge.QUEUE}"
        )
    else:
        sinks.remove("eventbridge")
    log_path = work / "worker.log"
    say(
        f"[3/6] starting `streamproc worker` with every role: ingest + sinks {', '.join(sinks)}"
        f"{' + aggregations' if spec.aggregations else ''} "
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
    triggers = _TriggerPlayer(services, spec, stream.records) if shadow else None
    try:
        expected = len(stream.records)
        started = time.monotonic()
        first_seen = None
        seen = 0
        metrics: Metrics = {}
        while time.monotonic() - started < timeout:
            if proc.poll() is not None:
                say(f"worker exited early with code {proc.returncode}; see {log_path}")
                return ExitCode.FAILURE
            time.sleep(1.0)
            metrics = scrape(port) or metrics
            seen = metric_total(metrics, "streamproc_events_in")
            if seen and first_seen is None:
                first_seen = time.monotonic()
            if seen < expected:
                bar = "#" * int(30 * seen / expected)
                say(f"[4/6] ingest {seen:>6}/{expected} [{bar:<30}]")
                continue
            say(
                "[5/6] sinks "
                + "  ".join(
                    f"{s} {metric_total(metrics, 'streamproc_sink_records', sink=s):>5}/"
                    f"{expected_records(metrics, s, only)}"
                    for s in sinks
                )
            )
            if sinks_done(metrics, sinks, only):
                break
        all_done = time.monotonic() - (first_seen or started)
        _wait_for_finals(say, port, spec, started + timeout)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    if seen < expected or not sinks_done(metrics, sinks, only):
        say(f"demo: not everything arrived within {timeout:.0f}s ({seen}/{expected} ingested); see {log_path}")
        return ExitCode.FAILURE
    report_metrics(say, metrics, inj, seen, all_done, prefix, sinks)
    entities = {dict(labels)["entity"] for labels in metrics.get("streamproc_events_out", {})}
    for line in pii_summary(spec, str(services.settings.pipelines), entities):
        say(line)
    report_targets(say, services, spec, consumer.finish())
    if spec.aggregations:
        dsn = services.settings.warehouse.dsn
        topics = [f"{prefix}.aggregates.{a.name}" for a in spec.aggregation_specs()]
        report_aggregates(say, bootstrap, topics, dsn.get_secret_value() if dsn else None)
    code = 0 if triggers is None else _report_shadow(say, services, spec, triggers)
    report_next(say)
    return code


def _wait_for_finals(say: Say, port: int, spec: PipelinesSpec, deadline: float) -> None:
    """With an ``emit: final`` aggregation, wait (bounded) until the worker emitted a final: the
    demo's events are old, so the windows close by idle once the clean partitions are quiet."""
    if not spec.aggregations:
        return
    wait = final_wait_seconds(spec.aggregation_specs())
    until = min(deadline, time.monotonic() + wait)
    if wait:
        say(f"[5/6] waiting up to {until - time.monotonic():.0f}s for windows to close (idle close)")
    while time.monotonic() < until and not finals_seen(scrape(port)):
        time.sleep(2.0)


class _TriggerPlayer(threading.Thread):
    """Writes what the Atlas triggers would have written (prod/) while the worker writes dev/."""

    def __init__(self, services: LocalServices, spec: PipelinesSpec, records: Sequence[Record]) -> None:
        super().__init__(name="demo-triggers", daemon=True)
        from streamproc.sinks.s3.aws import make_client

        assert spec.sinks.s3_trigger is not None
        self.trig = spec.sinks.s3_trigger
        self.s3 = make_client("s3", services.settings.aws)
        self.records = records
        self.written = 0
        self.error: str | None = None
        self.start()

    def run(self) -> None:
        try:
            with contextlib.suppress(Exception):  # already there, or created by the sink meanwhile
                self.s3.create_bucket(Bucket=self.trig.bucket)
            colls = {self.trig.collection(e): self.trig.collection(e) for e in self.trig.entities}
            self.written = put_objects(self.s3, self.trig.bucket, list(trigger_objects(self.records, colls)))
        except Exception as exc:  # noqa: BLE001 - reported by the demo, which then fails
            self.error = type(exc).__name__


def _report_shadow(say: Say, services: LocalServices, spec: PipelinesSpec, triggers: _TriggerPlayer) -> int:
    from streamproc.config.settings import Settings

    triggers.join(300)
    trig = spec.sinks.s3_trigger
    assert trig is not None
    if triggers.error is not None or triggers.is_alive():
        say(f"demo: the played triggers could not write s3://{trig.bucket}/{TRIGGER_ENV} ({triggers.error})")
        return ExitCode.FAILURE
    say(
        f"Shadow run: the Atlas triggers played for the same changes wrote {triggers.written} objects "
        f"to s3://{trig.bucket}/{TRIGGER_ENV} (unredacted, JSON.stringify); streamproc wrote {trig.env}. "
        "streamproc parity --config --numeric-equal per collection (docs/MIGRATION.md):"
    )
    settings = Settings(dev=True, aws=services.settings.aws)  # the worker's redaction key (dev mode)
    lines, reports = parity_table(triggers.s3, settings, spec, trig.bucket)
    for line in lines:
        say(line)
    failed = [str(r.pipeline) for r in reports if not r.passed]
    verdict = f"FAILED for {', '.join(failed)}" if failed else "passed by every collection"
    say(
        "  strict: identical + equal-after-pipeline; match: + numeric-representation (Decimal128/Int64 "
        f"spelling). Gate 99.9%: {verdict}"
    )
    return ExitCode.FAILURE if failed else 0
