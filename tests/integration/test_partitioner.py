"""The aggregation upstream sends a batch's deltas for one repartition partition as one message,
choosing the partition itself (``aggregate.partition_of``). A group's cells live in the state of
the partition its deltas reach, so that choice must be the one librdkafka's default partitioner
made when each delta was its own keyed message (deployments upgrading keep their state where it
is). This test lets the project's producer place real group keys through the broker and compares."""

from __future__ import annotations

import uuid

import pytest

from streamproc.aggregate.delta import group_key, partition_of
from streamproc.runtime.admin import ensure_topics
from streamproc.runtime.producer import BatchProducer

from .workers import read_topic

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("partitions", [1, 4, 7])
def test_partition_of_is_where_librdkafka_puts_a_keyed_record(kafka_bootstrap: str, partitions: int) -> None:
    topic = f"it-partitioner-{uuid.uuid4().hex[:10]}"
    ensure_topics(kafka_bootstrap, [topic], partitions)
    keys = [group_key("orders_per_minute", {"region": f"r{i}", "n": i}) for i in range(200)]
    keys += [group_key("by_user", {"user": "ü" * (i % 5), "id": -i}) for i in range(50)]
    producer = BatchProducer(kafka_bootstrap)
    for key in keys:
        producer.produce(topic, key, b"{}")  # no partition: librdkafka's default partitioner picks
    producer.flush_sync(60)
    producer.close()
    records = read_topic(kafka_bootstrap, topic)
    assert len(records) == len(keys)
    placed = {r.key(): r.partition() for r in records}
    wrong = {k: (p, partition_of(k, partitions)) for k, p in placed.items() if partition_of(k, partitions) != p}
    assert not wrong, f"{len(wrong)} of {len(keys)} keys placed elsewhere than partition_of says"
    if partitions > 1:
        assert len(set(placed.values())) == partitions, "the keys did not spread over every partition"
