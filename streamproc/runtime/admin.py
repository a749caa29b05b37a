"""Topic administration with confluent-kafka: create what is missing with explicit configs
(the embedded broker only reports configs a topic was created with) and read partition counts;
tell the embedded broker from a real cluster, and refuse the public development key on the latter.

Every function takes the bootstrap servers and ``client``: the security properties of
:func:`streamproc.runtime.kafka_config.confluent_config` (unset: PLAINTEXT)."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterable, Mapping

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from streamproc.errors import ConfigError, ServiceUnavailable

__all__ = [
    "ensure_topics",
    "partition_counts",
    "cluster_id",
    "is_embedded",
    "check_dev_key_broker",
    "EMBEDDED_CLUSTER_IDS",
    "DEV_KEY_PROBE_SECONDS",
]

#: Cluster ids of the embedded tansu broker (ours, and tansu's default).
EMBEDDED_CLUSTER_IDS = frozenset({"streamproc-embedded", "tansu_cluster"})
#: The longest :func:`check_dev_key_broker` waits for the broker to say what it is.
DEV_KEY_PROBE_SECONDS = 5.0


def _admin(bootstrap: str, client: Mapping[str, str] | None) -> AdminClient:
    conf: dict[str, str | int | float | bool] = {**(client or {}), "bootstrap.servers": bootstrap}
    try:
        return AdminClient(conf)
    except KafkaException as exc:  # a property librdkafka refuses: named, its value never shown
        prop = re.search(r'property "([a-z.]+)"|\b([a-z]+(?:\.[a-z]+)+) failed', str(exc))
        where = f"property {prop.group(1) or prop.group(2)}" if prop else type(exc).__name__
        raise ConfigError(f"the Kafka client refused its configuration ({where})") from None


def cluster_id(bootstrap: str, timeout: float = 10.0, client: Mapping[str, str] | None = None) -> str | None:
    try:
        return _admin(bootstrap, client).list_topics(timeout=timeout).cluster_id
    except KafkaException as exc:
        raise ServiceUnavailable(f"Kafka at {bootstrap} unreachable: {exc}") from None


_embedded: dict[str, bool] = {}  # bootstrap → answer: asked once per process and broker


def is_embedded(bootstrap: str, client: Mapping[str, str] | None = None, timeout: float = 10.0) -> bool:
    """Whether ``bootstrap`` is the embedded tansu broker (asked once per process and broker). It
    speaks PLAINTEXT only, so a client configured for TLS or SASL is never talking to it."""
    if (client or {}).get("security.protocol", "PLAINTEXT").upper() != "PLAINTEXT":
        return False
    if bootstrap not in _embedded:
        _embedded[bootstrap] = cluster_id(bootstrap, timeout) in EMBEDDED_CLUSTER_IDS
    return _embedded[bootstrap]


def check_dev_key_broker(
    bootstrap: str | None,
    client: Mapping[str, str] | None = None,
    timeout: float = DEV_KEY_PROBE_SECONDS,
    what: str = "the public development redaction key",
) -> None:
    """A ConfigError unless ``bootstrap`` is the embedded broker: the development key (``what``,
    or another key only dev mode accepts) may only redact data that never leaves this machine.
    Ends within about ``timeout`` seconds; a broker that does not answer in time is not embedded."""
    advice = "set STREAMPROC_REDACTION__KEY (at least 32 bytes), or pass --allow-dev-key (tests only)"
    refused = f"{what} is refused"
    if not bootstrap:
        raise ConfigError(f"{refused} without the embedded broker; {advice}")
    deadline = time.monotonic() + timeout
    if not _any_port_open(bootstrap, deadline):
        raise ConfigError(f"{refused}: nothing answers at {bootstrap}, so it is not the embedded broker; {advice}")
    try:
        embedded = is_embedded(bootstrap, client, max(0.5, deadline - time.monotonic()))
    except ServiceUnavailable:
        embedded = False
    if not embedded:
        raise ConfigError(f"{refused}: Kafka at {bootstrap} is not the embedded broker; {advice}")


def _any_port_open(bootstrap: str, deadline: float) -> bool:
    """Whether a TCP connection to one of the ``host:port`` of ``bootstrap`` opens before
    ``deadline`` (a refused port fails at once, without librdkafka's retry loop)."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=min(left, 2.0)).close()
            return True
        except (OSError, ValueError):
            continue
    return False


def partition_counts(
    bootstrap: str, topics: Iterable[str], timeout: float = 10.0, client: Mapping[str, str] | None = None
) -> dict[str, int]:
    """Partition count of each existing topic among ``topics``."""
    try:
        md = _admin(bootstrap, client).list_topics(timeout=timeout)
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
    client: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Create missing topics; return the partition count of every requested topic."""
    names = list(dict.fromkeys(topics))
    existing = partition_counts(bootstrap, names, timeout, client)
    missing = [t for t in names if t not in existing]
    if missing:
        configs = configs or {}
        new = [
            NewTopic(t, partitions, replication, config=dict(configs.get(t, {"cleanup.policy": "delete"})))
            for t in missing
        ]
        admin = _admin(bootstrap, client)  # must outlive the futures
        for topic, fut in admin.create_topics(new, operation_timeout=timeout).items():
            try:
                fut.result()
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise ServiceUnavailable(f"cannot create topic {topic}: {exc}") from None
        existing.update(partition_counts(bootstrap, missing, timeout, client))
    return {t: existing.get(t, partitions) for t in names}
