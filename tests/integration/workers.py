"""Helpers for integration tests: run ``streamproc worker`` as a real subprocess, produce and
consume with confluent-kafka."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import httpx
from confluent_kafka import Consumer, Producer

from streamproc.broker import free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class WorkerProcess:
    bootstrap: str
    datadir: Path
    config: Path
    app_id: str = field(default_factory=lambda: f"it-{uuid.uuid4().hex[:8]}")
    topic_prefix: str = field(default_factory=lambda: f"it{uuid.uuid4().hex[:6]}")
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
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
            STREAMPROC_REDACTION__KEY="integration-test-key",
            STREAMPROC_BATCH_WITHIN="0.05",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> "WorkerProcess":
        self.log_path = self.log_path or (self.datadir.parent / f"{self.app_id}.log")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamproc.cli", "worker", "-l", "info"],
            cwd=REPO, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"worker not ready in {timeout}s:\n{self.log()[-4000:]}")

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

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


def produce(bootstrap: str, records: Iterable[tuple[str, bytes | None, bytes | None]]) -> int:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    n = 0
    for topic, key, value in records:
        p.produce(topic, value, key)
        n += 1
        if n % 1000 == 0:
            p.poll(0)
    assert p.flush(30) == 0
    return n


def consume_all(bootstrap: str, topic: str, expect: int | None = None, timeout: float = 60.0,
                idle: float = 3.0) -> list:
    """Read ``topic`` from the beginning until ``expect`` records (or ``idle`` s without any)."""
    c = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
    })
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


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.5, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
