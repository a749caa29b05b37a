"""Helpers of the operator-command tests (``streamproc replay``, ``streamproc dlq``): run the CLI
as a subprocess with a worker's environment, read committed offsets and the audit topic."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from tests.integration.workers import REPO, WorkerProcess, read_topic


def cli(worker: WorkerProcess, *args: str, timeout: float = 180.0) -> subprocess.CompletedProcess[str]:
    """``streamproc <args>`` with ``worker``'s settings (broker, app id, prefix, data dir, config)."""
    return subprocess.run(
        [sys.executable, "-m", "streamproc.cli.main", *args],
        cwd=REPO,
        env=worker.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cli_json(worker: WorkerProcess, *args: str) -> dict[str, Any]:
    done = cli(worker, *args, "--json")
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-3000:]}"
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """Partition → committed offset of ``group`` (-1001: none)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in got}
    finally:
        c.close()


def audit_records(bootstrap: str, prefix: str, action: str) -> list[dict[str, Any]]:
    return [
        rec
        for rec in (json.loads(m.value()) for m in read_topic(bootstrap, f"{prefix}.audit"))
        if rec.get("action") == action
    ]
