"""Clean-topic and DLQ producer (confluent-kafka): produce without awaiting each record,
then flush once per batch. A record the broker refuses after the client's own retries
raises :class:`ServiceUnavailable`, so the batch is neither acknowledged nor recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from streamproc.errors import ServiceUnavailable

__all__ = ["BatchProducer", "WatermarkReader"]


class BatchProducer:
    def __init__(self, bootstrap: str, **config: object) -> None:
        conf = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 500_000,
            "delivery.timeout.ms": 120_000,
        }
        conf.update(config)
        self._producer = Producer(conf)
        self._failed: list[str] = []
        self._acked: dict[tuple[str, int], int] = {}

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self._failed.append(f"{err.name()}: {err.str()}")
            return
        tp = (msg.topic(), msg.partition())
        offset = msg.offset()
        if offset > self._acked.get(tp, -1):
            self._acked[tp] = offset

    def take_acked(self, topic: str) -> dict[int, int]:
        """Highest acknowledged offset per partition of ``topic`` since the last call."""
        out = {p: o for (t, p), o in self._acked.items() if t == topic}
        for p in out:
            del self._acked[(topic, p)]
        return out

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        """Queue one record (``headers``: a list, as confluent-kafka requires); not awaited."""
        extra: dict[str, Any] = {} if partition is None else {"partition": partition}
        kafka_headers = cast("list[tuple[str, str | bytes | None]] | None", headers)  # list is invariant
        while True:
            try:
                self._producer.produce(topic, value, key, headers=kafka_headers, on_delivery=self._on_delivery, **extra)
                return
            except BufferError:  # local queue full: let deliveries drain
                self._producer.poll(0.05)

    def flush_sync(self, timeout: float = 150.0) -> None:
        remaining = self._producer.flush(timeout)
        if remaining:
            raise ServiceUnavailable(f"{remaining} records not acknowledged by Kafka within {timeout:.0f}s")
        if self._failed:
            first, n = self._failed[0], len(self._failed)
            self._failed.clear()
            raise ServiceUnavailable(f"Kafka refused {n} records (first error: {first})")

    async def flush(self, timeout: float = 150.0) -> None:
        if len(self._producer) == 0 and not self._failed:
            return
        await asyncio.to_thread(self.flush_sync, timeout)

    def close(self) -> None:
        self._producer.flush(10)


class WatermarkReader:
    """Partition ends as the broker answers ListOffsets (no group membership needed): the ends
    Faust's recovery reads. The embedded broker answers the last record batch's base offset + 1,
    which the ingest worker makes exact by sending each changelog partition's last record alone
    (:mod:`streamproc.runtime.ingest`); tests/integration/test_rebalance.py compares these ends
    with the records to prove it."""

    def __init__(self, bootstrap: str, **config: str) -> None:
        self._consumer = Consumer(
            {**config, "bootstrap.servers": bootstrap, "group.id": "streamproc-watermarks", "enable.auto.commit": False}
        )

    def ends(self, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        """The reported end (high watermark) of each of ``partitions`` of ``topic``."""
        out: dict[int, int] = {}
        for partition in partitions:
            try:
                _, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            except KafkaException as exc:
                raise ServiceUnavailable(f"cannot read the end offset of {topic}[{partition}]: {exc}") from None
            out[partition] = high
        return out

    def close(self) -> None:
        self._consumer.close()
