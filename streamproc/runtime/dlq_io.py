"""Reading the DLQ to its end and writing the retry topic, for ``streamproc dlq``.

The DLQ is read without a consumer group (assigned partitions, nothing committed), each partition
up to the end it had when reading began, as the high watermark of the fetch responses says (exact
on the embedded broker too, whose ListOffsets answer may fall short). Records are parsed into
:class:`~streamproc.pipeline.dlq_retry.DlqEntry` at once; only their payload bytes are kept for a
re-injection, and nothing here prints or logs them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import cast

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from streamproc.config.settings import Settings
from streamproc.errors import ServiceUnavailable
from streamproc.pipeline.dlq_retry import DlqEntry, parse_entry
from streamproc.runtime.admin import ensure_topics, partition_counts
from streamproc.runtime.kafka_config import confluent_config
from streamproc.runtime.producer import BatchProducer

__all__ = ["read_dlq", "ensure_retry_topic", "RetryWriter"]

Progress = Callable[[str], None]


def read_dlq(settings: Settings, progress: Progress | None = None, timeout: float = 120.0) -> list[DlqEntry]:
    """Every record of the DLQ, partition by partition in offset order (missing topic: none)."""
    bootstrap, client = settings.kafka_bootstrap or "", confluent_config(settings)
    topic = settings.dlq_topic
    count = partition_counts(bootstrap, [topic], client=client).get(topic)
    if not count:
        return []
    c = Consumer(
        {
            **client,
            "bootstrap.servers": bootstrap,
            "group.id": f"streamproc-dlq-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    out: list[DlqEntry] = []
    try:
        nonempty = [p for p in range(count) if c.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1] > 0]
        if not nonempty:
            return []
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in nonempty])
        got: dict[int, list[DlqEntry]] = {p: [] for p in nonempty}
        ends: dict[int, int] = {}
        pending = set(nonempty)
        deadline = time.monotonic() + timeout
        last_report = time.monotonic()
        while pending and time.monotonic() < deadline:
            for m in c.consume(1000, 0.3):
                p, offset = m.partition() or 0, m.offset() or 0
                if m.error() is not None or p not in pending or (p in ends and offset >= ends[p]):
                    continue
                headers = cast("list[tuple[str, bytes | str | None]] | None", m.headers())  # a list when consumed
                got[p].append(parse_entry(p, offset, m.timestamp()[1], m.key(), m.value(), headers))
            for p in list(pending):
                _, high = c.get_watermark_offsets(TopicPartition(topic, p), cached=True)
                if high >= 0 and p not in ends:
                    ends[p] = high
                if got[p] and p in ends and got[p][-1].dlq_offset >= ends[p] - 1:
                    pending.discard(p)
            if progress is not None and time.monotonic() - last_report > 2:
                progress(f"read {sum(len(v) for v in got.values())} DLQ records")
                last_report = time.monotonic()
        if pending:
            raise ServiceUnavailable(f"{topic}: partitions {sorted(pending)} could not be read to their end in time")
        for p in sorted(got):
            out += got[p]
    finally:
        c.close()
    return out


def ensure_retry_topic(settings: Settings) -> int:
    """Create the retry topic when missing (the source topics' partition count); its count."""
    counts = ensure_topics(
        settings.kafka_bootstrap or "",
        [settings.retry_topic],
        settings.partitions,
        settings.replication_factor,
        client=confluent_config(settings),
    )
    return counts[settings.retry_topic]


class RetryWriter:
    """Produces re-injected records to the retry topic, on the partition of their source record
    (the retry topic is partitioned like the source topics, so Faust's co-partitioning gives that
    partition to the worker owning the source partition and its state)."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.retry_topic
        self.producer = BatchProducer(settings.kafka_bootstrap or "", **confluent_config(settings))

    def send(self, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]], partition: int) -> None:
        self.producer.produce(self.topic, key, value, headers, partition=partition)

    def flush(self) -> None:
        self.producer.flush_sync(60)
