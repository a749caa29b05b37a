"""Helpers for integration tests: run ``streamproc worker`` as a real subprocess, produce and
read topics with confluent-kafka, write per-test pipeline configs with unique topics, and compute
the expected output offline with the same :class:`Processor` ``streamproc dry-run`` uses."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from streamproc.dev.broker import free_port
from streamproc.dev.demo.generator import generate

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = REPO / "config" / "pipelines.yaml"
REDACTION_KEY = "integration-test-key-of-32-bytes-or-more"  # >= 32 bytes outside dev mode

#: Faust reads these from the environment. The embedded broker holds the first JoinGroup of a
#: new group for about half the rebalance timeout (Faust's default 60 s → ~30 s start-up), and a
#: worker restarted after SIGKILL waits for the dead member's session to expire: short timeouts
#: keep start-up and restart at a few seconds without changing what the worker does; a shorter
#: batch window makes small test streams flow sooner. ``fast_group=False`` keeps production defaults.
FAST_GROUP_ENV = {
    "BROKER_REBALANCE_TIMEOUT": "10",
    "BROKER_SESSION_TIMEOUT": "10",
    "BROKER_HEARTBEAT_INTERVAL": "1",
    "STREAMPROC_BATCH_WITHIN": "0.05",
}


class RestartCrashed(Exception):
    """A worker restarted on an existing state directory stopped during table recovery."""


@dataclass
class WorkerProcess:
    bootstrap: str
    datadir: Path
    config: Path
    app_id: str = field(default_factory=lambda: f"it-{uuid.uuid4().hex[:8]}")
    topic_prefix: str = field(default_factory=lambda: f"it{uuid.uuid4().hex[:6]}")
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    loglevel: str = "info"
    fast_group: bool = True
    roles: str = "ingest"
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMPROC_")}
        env.update(
            STREAMPROC_KAFKA_BOOTSTRAP=self.bootstrap,
            STREAMPROC_APP_ID=self.app_id,
            STREAMPROC_TOPIC_PREFIX=self.topic_prefix,
            STREAMPROC_DATADIR=str(self.datadir),
            STREAMPROC_WEB_PORT=str(self.port),
            STREAMPROC_WEB_HOST="127.0.0.1",
            STREAMPROC_PIPELINES=str(self.config),
            STREAMPROC_REDACTION__KEY=REDACTION_KEY,
        )
        if self.fast_group:
            env.update(FAST_GROUP_ENV)
        env.update(self.extra_env)
        return env

    def start(self) -> WorkerProcess:
        self.log_path = self.log_path or (self.datadir.parent / f"{self.app_id}.log")
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamproc.cli.main", "worker", "--role", self.roles, "-l", self.loglevel],
                cwd=REPO,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                log = self.log()
                crash = re.search(r"Crashed reason=(ConsistencyError\(.*)", log)
                if crash:
                    raise RestartCrashed(f"worker exited with {self.proc.returncode} in recovery: {crash.group(1)}")
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{log[-4000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"worker not ready in {timeout}s:\n{self.log()[-4000:]}")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5)

    def metrics(self) -> str:
        return self.get("/metrics").text

    def samples(self) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        return parse_metrics(self.metrics())

    def total(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (0 when unreachable)."""
        try:
            return metric_total(self.samples(), name, **labels)
        except httpx.HTTPError:
            return 0.0

    def wait_processed(self, n: int, timeout: float = 120.0) -> None:
        def done() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            return self.total("streamproc_events_in_total") >= n

        wait_for(done, timeout, message=f"{n} messages consumed by the worker")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def assignments(self) -> list[tuple[float, dict[str, set[int]]]]:
        """Every ``ingest partitions assigned`` line of the log: (wall-clock time, topic →
        partitions), oldest first."""
        out = []
        for when, text in log_lines(self.log(), "ingest partitions assigned: "):
            owned: dict[str, set[int]] = {}
            for item in text.split():
                topic, _, parts = item.rpartition("=")
                owned[topic] = set() if parts == "-" else {int(p) for p in parts.split(",")}
            out.append((when, owned))
        return out

    def assigned(self) -> set[tuple[str, int]]:
        """The source partitions of the latest assignment line (empty before the first)."""
        found = self.assignments()
        return {(t, p) for t, ps in found[-1][1].items() for p in ps} if found else set()

    def ready_times(self) -> list[float]:
        """Wall-clock times of Faust's ``Worker ready`` lines (the end of each recovery)."""
        return [when for when, _ in log_lines(self.log(), "Worker ready")]

    def holds(self) -> int:
        """Batches that reached the STREAMPROC_TEST_HOLD_AFTER_OUTPUT hook so far."""
        return len(log_lines(self.log(), "test hook: a batch of "))

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


_LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\]")


def log_lines(log: str, marker: str) -> list[tuple[float, str]]:
    """(wall-clock time, text after ``marker``) of each worker log line containing ``marker``
    (Faust's format: ``[YYYY-mm-dd HH:MM:SS,mmm] [pid] [LEVEL]: message``, local time)."""
    out = []
    for line in log.splitlines():
        at = line.find(marker)
        stamp = _LOG_TIME.match(line)
        if at < 0 or stamp is None:
            continue
        when = time.mktime(time.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S")) + int(stamp.group(2)) / 1000
        out.append((when, line[at + len(marker) :].split(" {")[0].strip()))
    return out


# --------------------------------------------------------------------------- metrics


def parse_metrics(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Prometheus text format (read by prometheus_client's parser) → ``{sample name: {sorted
    label pairs: value}}``; sample names as exposed (``…_total``, ``…_bucket``, ``…_sum``)."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return out


def metric_total(samples: dict, name: str, **labels: str) -> float:
    return sum(
        v for lbl, v in samples.get(name, {}).items() if all(dict(lbl).get(k) == want for k, want in labels.items())
    )


# --------------------------------------------------------------------------- Kafka I/O

Record = tuple  # (topic, key, value) or (topic, key, value, headers)


def produce(bootstrap: str, records: Iterable[Record]) -> int:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    n = 0
    for rec in records:
        topic, key, value = rec[0], rec[1], rec[2]
        headers = rec[3] if len(rec) > 3 else None
        while True:
            try:
                p.produce(topic, value, key, headers=headers)
                break
            except BufferError:
                p.poll(0.05)
        n += 1
        if n % 1000 == 0:
            p.poll(0)
    assert p.flush(30) == 0
    return n


class BackgroundProducer(threading.Thread):
    """Produces ``records`` in chunks of ``chunk`` with ``pause`` seconds between them; ``join_ok``
    waits and re-raises what went wrong."""

    def __init__(self, bootstrap: str, records: Sequence[Record], chunk: int, pause: float) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.records, self.chunk, self.pause = bootstrap, records, chunk, pause
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            for i in range(0, len(self.records), self.chunk):
                produce(self.bootstrap, self.records[i : i + self.chunk])
                time.sleep(self.pause)
        except BaseException as exc:  # noqa: BLE001 - re-raised by join_ok
            self.errors.append(exc)

    def join_ok(self, timeout: float = 120.0) -> None:
        self.join(timeout)
        assert not self.is_alive() and not self.errors, self.errors


def consume_all(
    bootstrap: str, topic: str, expect: int | None = None, timeout: float = 60.0, idle: float = 3.0
) -> list:
    """Read ``topic`` from the beginning until ``expect`` records (or ``idle`` s without any)."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([topic])
    out: list = []
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            msgs = c.consume(500, 0.5)
            for m in msgs:
                if m.error() is None:
                    out.append(m)
            if msgs:
                last = time.monotonic()
            if expect is not None and len(out) >= expect:
                break
            if expect is None and out and time.monotonic() - last > idle:
                break
    finally:
        c.close()
    return out


def list_topics(bootstrap: str) -> dict[str, int]:
    """Topic name → partition count."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"meta-{uuid.uuid4().hex}"})
    try:
        md = c.list_topics(timeout=10)
        return {name: len(t.partitions) for name, t in md.topics.items() if t.error is None}
    finally:
        c.close()


def read_topic(bootstrap: str, topic: str, timeout: float = 60.0) -> list:
    """Every record of ``topic`` up to its current end, partition by partition in offset order
    (exact: no idle guessing). A missing topic reads as empty.

    The end of a partition is the high watermark of the *fetch* responses: the embedded broker
    answers ListOffsets(latest) with the base offset of the last batch + 1, which is short of the
    log end whenever that batch holds more than one record (see test_crash.py)."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    try:
        md = c.list_topics(topic, timeout=10).topics.get(topic)
        if md is None or md.error is not None or not md.partitions:
            return []
        nonempty = []
        for p in md.partitions:
            _low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > 0:
                nonempty.append(p)
        if not nonempty:
            return []
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in nonempty])
        got: dict[int, list] = {p: [] for p in nonempty}
        pending = set(nonempty)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for m in c.consume(1000, 0.2):
                if m.error() is None:
                    got[m.partition()].append(m)
            for p in list(pending):
                _low, high = c.get_watermark_offsets(TopicPartition(topic, p), cached=True)
                if got[p] and high >= 0 and got[p][-1].offset() >= high - 1:
                    pending.discard(p)
        assert not pending, f"{topic}: could not read partitions {sorted(pending)} to their end"
        return [m for p in sorted(got) for m in got[p]]
    finally:
        c.close()


def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """(topic, partition) → next offset after the last record, read from the records themselves."""
    ends: dict[tuple[str, int], int] = {}
    for topic in topics:
        for m in read_topic(bootstrap, topic):
            ends[(topic, m.partition())] = m.offset() + 1
    return ends


def committed_lag(bootstrap: str, group: str, ends: dict[tuple[str, int], int]) -> int:
    """Records before ``ends`` (see :func:`end_offsets`) not yet committed by consumer group ``group``."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        committed = c.committed([TopicPartition(t, p) for t, p in ends], timeout=10)
        return sum(max(0, ends[(tp.topic, tp.partition)] - max(tp.offset, 0)) for tp in committed)
    finally:
        c.close()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.5, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


# --------------------------------------------------------------------------- configs and streams


def unique_config(
    path: Path, entities: Sequence[str], topic_prefix: str, sinks: dict[str, Any] | None = None
) -> dict[str, str]:
    """Write the shipped pipelines config restricted to ``entities``, every source topic prefixed
    with ``topic_prefix`` (so tests sharing a broker never read each other's records), with
    ``sinks`` as its ``sinks:`` section (the shipped one names every entity, so it is dropped, and
    so are the shipped ``aggregations:``).
    Returns shipped topic → unique topic."""
    cfg = yaml.safe_load(SHIPPED_CONFIG.read_text())
    sources = [s for s in cfg["sources"] if s["entity"] in entities]
    assert {s["entity"] for s in sources} == set(entities), "unknown entity"
    mapping: dict[str, str] = {}
    for src in sources:
        mapping[src["topic"]] = f"{topic_prefix}.{src['topic']}"
        src["topic"] = mapping[src["topic"]]
    cfg["sources"] = sources
    cfg.pop("sinks", None)
    cfg.pop("aggregations", None)  # they name entities and sinks this file may not have
    if sinks is not None:
        cfg["sinks"] = sinks
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return mapping


@dataclass
class Offline:
    """The records run offline through the worker's own pipeline (``streamproc dry-run``'s
    processor and in-memory state), in produce order."""

    records: list[Record]
    outcomes: list[Any]
    #: the final table state (table key → value), as the worker's changelog should hold it
    state: dict[bytes, bytes] = field(default_factory=dict)

    def emits(self) -> list[Any]:
        from streamproc.pipeline.processor import Emit

        return [o for o in self.outcomes if type(o) is Emit]

    def by_key(self) -> dict[tuple[str, bytes], list[tuple[bytes, list[tuple[str, bytes]]]]]:
        """(clean topic, key) → [(value, headers)] in per-key order."""
        out: dict[tuple[str, bytes], list] = defaultdict(list)
        for e in self.emits():
            out[(e.topic, e.key)].append((e.value, list(e.headers)))
        return dict(out)

    def dropped(self, reason: str, entity: str | None = None) -> int:
        from streamproc.pipeline.processor import Dropped

        return sum(
            1
            for o in self.outcomes
            if type(o) is Dropped and o.reason == reason and (entity is None or o.entity == entity)
        )

    def dead_letters(self) -> list[tuple[Record, Any]]:
        from streamproc.pipeline.processor import DeadLetter

        return [(r, o) for r, o in zip(self.records, self.outcomes, strict=True) if type(o) is DeadLetter]


def run_offline(records: Sequence[Record], config: Path, topic_prefix: str) -> Offline:
    from streamproc.cli.dryrun import DictState
    from streamproc.config.loader import load_pipelines
    from streamproc.config.settings import Settings
    from streamproc.pipeline.processor import RawMessage
    from streamproc.runtime.processor import build_processor

    settings = Settings(
        pipelines=config, topic_prefix=topic_prefix, redaction={"key": REDACTION_KEY}, schema_registry_url=None
    )
    processor = build_processor(settings, load_pipelines(config))
    state = DictState()
    outcomes = []
    for n, rec in enumerate(records):
        headers = list(rec[3]) if len(rec) > 3 and rec[3] else []
        outcomes.append(processor.process(RawMessage(rec[0], rec[1], rec[2], headers, 0, n), state))
    return Offline(list(records), outcomes, dict(state))


def clean_by_key(messages: Iterable[Any]) -> dict[tuple[str, bytes], list[tuple[bytes, list[tuple[str, bytes]]]]]:
    """Clean-topic records (read partition by partition) → (topic, key) → [(value, headers)]."""
    out: dict[tuple[str, bytes], list] = defaultdict(list)
    for m in messages:
        out[(m.topic(), m.key())].append((m.value(), list(m.headers() or [])))
    return dict(out)


def generated_stream(
    config: Path, entities: Sequence[str], documents: int, seed: int
) -> tuple[dict[str, str], list[tuple[str, bytes | None, bytes | None]]]:
    """Write ``config`` for ``entities`` on fresh topics (:func:`unique_config`) and generate the
    demo change stream for them: (shipped topic → unique topic, (topic, key, value) records)."""
    topics = unique_config(config, entities, f"it{uuid.uuid4().hex[:10]}")
    records = [
        (topics[r.topic], r.key, r.value)
        for r in generate(documents=documents, updates=3, seed=seed).records
        if r.topic in topics
    ]
    return topics, records


def read_clean_when_committed(
    bootstrap: str, worker: WorkerProcess, ends: dict[tuple[str, int], int], entities: Sequence[str], message: str
) -> dict[str, list]:
    """Wait until ``worker``'s group has committed every source offset in ``ends``, then read its
    clean topics back: clean topic → messages."""
    wait_for(lambda: committed_lag(bootstrap, worker.app_id, ends) == 0, 180, interval=1.0, message=message)
    return {topic: read_topic(bootstrap, topic) for topic in (f"{worker.topic_prefix}.events.{e}" for e in entities)}


# --------------------------------------------------------------------------- no change lost


def pairs_by_key(messages) -> dict[bytes, dict[tuple, list[tuple[bytes, list]]]]:
    """key → position → [(value, headers)] in topic order."""
    out: dict[bytes, dict[tuple, list]] = defaultdict(lambda: defaultdict(list))
    for m in messages:
        position = tuple(json.loads(dict(m.headers())["source_position"]))
        out[m.key()][position].append((m.value(), list(m.headers())))
    return out


def assert_final_state_matches(clean: dict[str, list], offline: Offline) -> None:
    """Per clean topic (``clean``: topic → messages read back): the same keys as the dry-run,
    and each key's event at its highest position equal to the dry-run's last event."""
    for topic, messages in clean.items():
        expected_last: dict[bytes, bytes] = {}
        for e in offline.emits():
            if e.topic == topic:
                expected_last[e.key] = e.value
        got = pairs_by_key(messages)
        assert set(got) == set(expected_last), topic
        for key, by_position in got.items():
            last = max(by_position)
            value = by_position[last][-1][0]
            assert value == expected_last[key], f"{topic} {key!r}: final event differs from the dry-run"


def assert_key_positions_match(clean: dict[str, list], offline: Offline) -> None:
    """The distinct (key, position) pairs equal the dry-run's, and per key a consumer that drops
    what its position says it has (an event below the highest position seen, or a copy of one at
    that position) sees exactly the dry-run's events in the dry-run's order. A redelivered batch
    repeats its events after later ones of the same key, so the raw topic order may go back."""
    for topic, messages in clean.items():
        want = {(e.key, tuple(json.loads(e.value)["position"])) for e in offline.emits() if e.topic == topic}
        got = {(m.key(), tuple(json.loads(m.value())["position"])) for m in messages}
        assert got == want, (
            f"{topic}: missing {len(want - got)} {sorted(want - got)[:5]}, unexpected {len(got - want)} "
            f"{sorted(got - want)[:5]} (key, position)"
        )
        expected: dict[bytes, list[bytes]] = defaultdict(list)
        for e in offline.emits():
            if e.topic == topic:
                expected[e.key].append(e.value)
        kept: dict[bytes, list[bytes]] = defaultdict(list)
        top: dict[bytes, tuple[tuple, set[bytes]]] = {}
        for m in messages:
            position = tuple(json.loads(m.value())["position"])
            highest, at_highest = top.get(m.key(), ((), set()))
            if position < highest or (position == highest and m.value() in at_highest):
                continue  # dropped by the consumer's dedupe
            if position > highest:
                at_highest = set()
            at_highest.add(m.value())
            top[m.key()] = (position, at_highest)
            kept[m.key()].append(m.value())
        for key, values in kept.items():
            assert values == expected[key], f"{topic} {key!r}: after the dedupe, not the dry-run's events"
