"""``streamproc demo``: embedded broker → generated change stream → worker → report. Stops by itself."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

from streamproc.broker import free_port, maybe_embedded
from streamproc.demo.generator import COLLECTIONS, generate
from streamproc.kafka_admin import ensure_topics

__all__ = ["run_demo", "parse_metrics"]

_SAMPLE = re.compile(r'^(streamproc_[a-z_]+?)(?:_total)?\{([^}]*)\} ([0-9.e+-]+)$')


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
    return int(sum(v for labels, v in metrics.get(name, {}).items()
                   if all(dict(labels).get(k) == want for k, want in match.items())))


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


def run_demo(documents: int = 300, updates: int = 3, timeout: float = 240.0) -> int:
    say = lambda msg: print(msg, flush=True)  # noqa: E731
    work = Path(tempfile.mkdtemp(prefix="streamproc-demo-"))
    say(f"streamproc demo — working directory {work}")
    configured = os.environ.get("STREAMPROC_KAFKA_BOOTSTRAP")
    with maybe_embedded(configured, log_path=work / "broker.log") as bootstrap:
        say(f"[1/5] Kafka at {bootstrap} ({'configured' if configured else 'embedded tansu broker, in memory'})")
        stream = generate(documents=documents, updates=updates)
        topics = sorted({f"cdc.{db}.{c}" for c, (db, *_r) in COLLECTIONS.items()})
        ensure_topics(bootstrap, topics, partitions=4)
        t0 = time.monotonic()
        _produce(bootstrap, stream.records)
        inj = stream.injected
        say(f"[2/5] produced {len(stream.records)} Debezium MongoDB change records to {len(topics)} topics in "
            f"{time.monotonic() - t0:.1f}s: {inj['insert']} inserts, {inj['update']} updates, {inj['replace']} "
            f"replaces, {inj['delete']} deletes (+{inj['tombstone']} tombstones); faults injected: "
            f"{inj['duplicate']} duplicates, {inj['reordered']} reordered, {inj['malformed']} malformed, "
            f"{inj['invalid']} rule violations")
        port = free_port()
        prefix = "demo"
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMPROC_")}
        env.update(STREAMPROC_KAFKA_BOOTSTRAP=bootstrap, STREAMPROC_DEV="true",
                   STREAMPROC_APP_ID=f"streamproc-demo-{uuid.uuid4().hex[:6]}", STREAMPROC_TOPIC_PREFIX=prefix,
                   STREAMPROC_DATADIR=str(work / "state"), STREAMPROC_WEB_PORT=str(port),
                   STREAMPROC_WEB_HOST="127.0.0.1")
        if "STREAMPROC_PIPELINES" in os.environ:
            env["STREAMPROC_PIPELINES"] = os.environ["STREAMPROC_PIPELINES"]
        log_path = work / "worker.log"
        say(f"[3/5] starting `streamproc worker` (log: {log_path}, metrics: http://127.0.0.1:{port}/metrics)")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "streamproc.cli", "worker", "-l", "info"],
                                    env=env, stdout=log, stderr=subprocess.STDOUT)
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
                bar = "#" * int(30 * seen / expected)
                say(f"[4/5] processed {seen:>6}/{expected} [{bar:<30}]")
                if seen >= expected:
                    break
            elapsed = time.monotonic() - (first_seen or started)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if seen < expected:
            say(f"demo: only {seen}/{expected} records processed within {timeout:.0f}s; see {log_path}")
            return 1
        _report(say, metrics, inj, seen, elapsed, prefix, bootstrap, port)
    return 0


def _report(say, m: dict, inj, seen: int, elapsed: float, prefix: str, bootstrap: str, port: int) -> None:
    say("[5/5] done. What happened:")
    say(f"  {'entity':<30}{'events out':>11}{'duplicate':>11}{'stale':>8}{'filtered':>10}")
    entities = sorted({dict(lbl)["entity"] for lbl in m.get("streamproc_events_out", {})})
    for e in entities:
        say(f"  {e:<30}{_total(m, 'streamproc_events_out', entity=e):>11}"
            f"{_total(m, 'streamproc_events_dropped', entity=e, reason='duplicate'):>11}"
            f"{_total(m, 'streamproc_events_dropped', entity=e, reason='stale'):>8}"
            f"{_total(m, 'streamproc_events_dropped', entity=e, reason='operation'):>10}")
    out = _total(m, "streamproc_events_out")
    dup = _total(m, "streamproc_events_dropped", reason="duplicate")
    stale = _total(m, "streamproc_events_dropped", reason="stale")
    skipped = _total(m, "streamproc_events_skipped")
    dlq = _total(m, "streamproc_events_dlq")
    say(f"  clean events: {out} on {prefix}.events.<entity>")
    say(f"  dropped: {dup} duplicates (injected {inj['duplicate']}), {stale} stale reorderings "
        f"(injected {inj['reordered']}); skipped: {skipped} tombstones")
    say(f"  dead-letter: {dlq} on {prefix}.dlq (injected {inj['malformed']} malformed + "
        f"{inj['invalid']} rule violations)")
    say(f"  throughput: {seen / max(elapsed, 1e-6):,.0f} records/s over {elapsed:.1f}s (one worker, from its first processed record; sampled each second)")
    say("  PII: users/owners e-mail and phone are partially masked, ssn/taxId/password removed, "
        "dateOfBirth hashed (config/pipelines.yaml)")
    say("Where to look next:")
    say("  - README.md (set-up), docs/ARCHITECTURE.md, docs/OPERATIONS.md (Kafka UI, replay, DLQ)")
    say("  - streamproc dry-run --config config/pipelines.yaml dump.jsonl  # test a config offline")
    say("  - streamproc decode dump.jsonl                                   # inspect raw CDC messages")
    say("  - streamproc dev   # a worker on the embedded broker; docker compose up for the full stack")
