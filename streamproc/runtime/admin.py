"""Topic administration with confluent-kafka: create what is missing with explicit configs
(the embedded broker only reports configs a topic was created with) and read partition counts."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from streamproc.errors import ServiceUnavailable

__all__ = ["ensure_topics", "partition_counts", "cluster_id", "is_embedded", "EMBEDDED_CLUSTER_IDS"]

#: Cluster ids of the embedded tansu broker (ours, and tansu's default).
EMBEDDED_CLUSTER_IDS = frozenset({"streamproc-embedded", "tansu_cluster"})


def _admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def cluster_id(bootstrap: str, timeout: float = 10.0) -> str | None:
    try:
        return _admin(bootstrap).list_topics(timeout=timeout).cluster_id
    except KafkaException as exc:
        raise ServiceUnavailable(f"Kafka at {bootstrap} unreachable: {exc}") from None


@functools.lru_cache(maxsize=8)
def is_embedded(bootstrap: str) -> bool:
    """Whether ``bootstrap`` is the embedded tansu broker (asked once per process and broker)."""
    return cluster_id(bootstrap) in EMBEDDED_CLUSTER_IDS


def partition_counts(bootstrap: str, topics: Iterable[str], timeout: float = 10.0) -> dict[str, int]:
    """Partition count of each existing topic among ``topics``."""
    try:
        md = _admin(bootstrap).list_topics(timeout=timeout)
    except KafkaException as exc:
        raise ServiceUnavailable(f"Kafka at {bootstrap} unreachable: {exc}") from None
    wanted = set(topics)
    return {name: len(t.partitions) for name, t in md.topics.items() if name in wanted and not t.error}


def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    partitions: int,
    replication: int = 1,
    configs: Mapping[str, Mapping[str, str]] | None = None,
    timeout: float = 15.0,
) -> dict[str, int]:
    """Create missing topics; return the partition count of every requested topic."""
    names = list(dict.fromkeys(topics))
    existing = partition_counts(bootstrap, names, timeout)
    missing = [t for t in names if t not in existing]
    if missing:
        configs = configs or {}
        new = [
            NewTopic(t, partitions, replication, config=dict(configs.get(t, {"cleanup.policy": "delete"})))
            for t in missing
        ]
        admin = _admin(bootstrap)  # must outlive the futures
        for topic, fut in admin.create_topics(new, operation_timeout=timeout).items():
            try:
                fut.result()
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise ServiceUnavailable(f"cannot create topic {topic}: {exc}") from None
        existing.update(partition_counts(bootstrap, missing, timeout))
    return {t: existing.get(t, partitions) for t in names}
