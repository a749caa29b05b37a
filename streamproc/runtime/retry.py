"""The ingest role's consumption of ``<prefix>.retry``: DLQ records re-injected by
``streamproc dlq replay`` (headers of :mod:`streamproc.pipeline.dlq_retry`).

Each record is processed as the message it was: its original topic, partition and offset, against
the state of that source partition (the retry topic is partitioned like the source topics, which
Faust co-partitions, and ``dlq replay`` writes each record to its source partition's number, so the
worker owning that state receives it). The source agent of that topic and the retry agent take the
topic's lock in turn, so a batch never reads state another batch is writing. The batch protocol is
the source batches' (:meth:`IngestRuntime.finish_batch`: output, changelog, state, then the
acknowledgement). A record that fails again goes back to the DLQ with its retry headers (its
attempt count). After the output is durable, each record's outcome (emitted, stale, duplicate,
filtered, dlq) is counted (``streamproc_dlq_retry_total``), logged and written to the audit
topic, where ``streamproc dlq inspect`` and ``dlq replay --wait`` read it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from faust.types import TP, Message

from streamproc.operations.audit import OUTCOME_ACTION, AuditRecord
from streamproc.pipeline.dlq import dlq_headers
from streamproc.pipeline.dlq_retry import parse_retry
from streamproc.pipeline.origin import origin_header
from streamproc.pipeline.processor import DeadLetter, Dropped, Emit, RawMessage
from streamproc.runtime.apps import add_batch_agent
from streamproc.runtime.state import BatchState

if TYPE_CHECKING:
    from streamproc.runtime.ingest import IngestRuntime

__all__ = ["add_retry_agent", "handle_retry_batch"]

log = logging.getLogger("streamproc.ingest")


def add_retry_agent(runtime: IngestRuntime, partitions: int) -> None:
    """Subscribe the ingest app to the retry topic and process its records in batches."""
    topic = runtime.settings.retry_topic

    async def handle(messages: list[Message]) -> None:
        await handle_retry_batch(runtime, messages)

    add_batch_agent(
        runtime.app,
        runtime.settings,
        topic,
        partitions,
        handle,
        name="streamproc.ingest.retry",
        what=f"a {topic} batch",
    )


def _dead_letter(runtime: IngestRuntime, raw: RawMessage, dl: DeadLetter) -> None:
    runtime.producer.produce(
        runtime.settings.dlq_topic, raw.key, raw.value, dlq_headers(raw, dl, runtime.settings.app_id)
    )
    runtime.metrics.events_dlq.labels(raw.topic, dl.error_class).inc()


async def handle_retry_batch(runtime: IngestRuntime, messages: list[Message]) -> None:
    """Process one batch of retry records, grouped by source topic in order (module docstring)."""
    s = runtime.settings
    assigned = runtime.app.consumer.assignment()
    reports: list[AuditRecord] = []
    groups: dict[str, list[tuple[Message, RawMessage, str, int]]] = {}
    for msg in messages:
        headers = cast("list[tuple[str, bytes]]", msg.headers or [])
        try:
            origin = parse_retry(headers)
        except ValueError as exc:
            raw = RawMessage(s.retry_topic, msg.key, msg.value, headers, msg.partition, msg.offset)
            _dead_letter(runtime, raw, DeadLetter("poison", str(exc), "retry", "DecodeError"))
            continue
        raw = RawMessage(origin.topic, msg.key, msg.value, origin.headers, origin.partition, origin.offset)
        table = runtime.tables.get(origin.topic)
        if table is None or TP(origin.topic, origin.partition) not in assigned:
            why = (
                f"retry: {origin.topic} is not a source topic of this ingest app"
                if table is None
                else f"retry: source partition {origin.topic}[{origin.partition}] is not assigned to this worker"
            )
            _dead_letter(runtime, raw, DeadLetter("configuration", why, "retry", "ConfigError"))
            reports.append(_report(origin.source, origin.attempt, raw, "dlq", None))
            continue
        groups.setdefault(origin.topic, []).append((msg, raw, origin.source, origin.attempt))
    for topic, items in groups.items():
        async with runtime.locks[topic]:
            state = BatchState(runtime.tables[topic])
            for msg, raw, source, attempt in items:
                state.partition = raw.partition
                outcome = runtime.processor.process(raw, state)
                if type(outcome) is Emit:
                    # the origin is the retry record taken, in its order: the source record's
                    # offset would make this event look like a copy of one never written
                    outcome.headers.append(origin_header(s.retry_topic, msg.partition, msg.offset))
                    runtime.producer.produce(outcome.topic, outcome.key, outcome.value, outcome.headers)
                    runtime.metrics.events_out.labels(outcome.entity, outcome.op).inc()
                    reports.append(_report(source, attempt, raw, "emitted", outcome.entity))
                elif type(outcome) is Dropped:
                    kind = outcome.reason if outcome.reason in ("stale", "duplicate") else "filtered"
                    reports.append(_report(source, attempt, raw, kind, outcome.entity))
                elif type(outcome) is DeadLetter:
                    _dead_letter(runtime, raw, outcome)
                    reports.append(_report(source, attempt, raw, "dlq", None, outcome.error_class))
            await runtime.finish_batch(state, len(items))
    if not reports:
        await runtime.producer.flush()
        return
    await runtime.producer.flush()  # DLQ records of refused records are durable
    for r in reports:
        runtime.metrics.dlq_retries.labels(r.details["origin"]["topic"], r.details["outcome"]).inc()
        log.info("%s", r.line())
        runtime.producer.produce(s.audit_topic, r.key(), r.value())
    await runtime.producer.flush()


def _report(
    source: str, attempt: int, raw: RawMessage, outcome: str, entity: str | None, error_class: str | None = None
) -> AuditRecord:
    details: dict[str, object] = {
        "source": source,
        "attempt": attempt,
        "origin": {"topic": raw.topic, "partition": raw.partition, "offset": raw.offset},
        "outcome": outcome,
        "entity": entity,
    }
    if outcome == "stale":
        details["note"] = "a later position of its key was applied; the later state stands"
    if error_class:
        details["error_class"] = error_class
    return AuditRecord(OUTCOME_ACTION, details)
