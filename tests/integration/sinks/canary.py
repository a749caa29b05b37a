"""Run one sink through the real :class:`SinkRunner` and look for a canary everywhere the sink
could print it: the DLQ reasons it produced, every log record (message, arguments, formatted
exception), every metric sample and label, and every exception raised (str, repr, args and the
chain a traceback prints, see ``tests/unit/sinks/printable.py``)."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field

import pytest
from prometheus_client import generate_latest

from streamproc.config.settings import SinkRuntimeSettings
from streamproc.runtime.metrics import SinkMetrics
from streamproc.sinks.base import Sink, SinkFailure, SinkRecord
from streamproc.sinks.runner import SinkRunner
from tests.unit.sinks.printable import printable

__all__ = ["Delivery", "deliver", "leaks"]


@dataclass
class Delivery:
    """What one delivery through the runner produced."""

    written: int
    dlq: list[SinkFailure] = field(default_factory=list)
    metrics: SinkMetrics = field(default_factory=SinkMetrics)


async def deliver(sink: Sink, records: list[SinkRecord], entities: Collection[str]) -> Delivery:
    """Start ``sink`` through a :class:`SinkRunner` (configured ``entities``), deliver ``records``,
    stop it; DLQ hand-offs and metrics are kept."""
    metrics = SinkMetrics()
    dlq: list[SinkFailure] = []
    conf = SinkRuntimeSettings(retry_initial=0.05, retry_max=0.2)
    runner = SinkRunner(sink, conf, metrics, lambda failure, name: dlq.append(failure), entities=entities)
    await runner.ensure_started()
    try:
        written = await runner.deliver(records)
    finally:
        await runner.stop()
    return Delivery(written, dlq, metrics)


def leaks(
    canary: str,
    delivery: Delivery,
    caplog: pytest.LogCaptureFixture,
    exceptions: Collection[BaseException] = (),
) -> list[str]:
    """Where ``canary`` appears; empty when nowhere."""
    found = []
    for f in delivery.dlq:
        if canary in f"{f.reason} {f.error_class}":
            found.append(f"DLQ reason: {f.reason}")
    formatter = logging.Formatter()
    for rec in caplog.records:
        text = f"{rec.getMessage()} {rec.args!r} {rec.msg!r}"
        if rec.exc_info:
            text += formatter.formatException(rec.exc_info)
        if canary in text:
            found.append(f"log record of {rec.name}")
    if canary in generate_latest(delivery.metrics.registry).decode():
        found.append("metrics")
    for exc in exceptions:
        if canary in printable(exc):
            found.append(f"exception {type(exc).__name__}")
    return found
