"""Writing and reading the compacted audit topic ``<prefix>.audit`` (records built by
:class:`streamproc.operations.audit.AuditRecord`): created when missing with
``cleanup.policy=compact`` and one partition, so it reads back in write order."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from streamproc.config.settings import Settings
from streamproc.jsonutil import parse_json
from streamproc.operations.audit import AuditRecord
from streamproc.runtime.admin import ensure_topics, partition_counts
from streamproc.runtime.kafka_config import confluent_config
from streamproc.runtime.producer import BatchProducer

__all__ = ["AUDIT_CONFIG", "ensure_audit_topic", "write_audit", "read_audit"]

log = logging.getLogger("streamproc.audit")

AUDIT_CONFIG = {"cleanup.policy": "compact"}


def ensure_audit_topic(settings: Settings) -> None:
    ensure_topics(
        settings.kafka_bootstrap or "",
        [settings.audit_topic],
        1,
        settings.replication_factor,
        configs={settings.audit_topic: AUDIT_CONFIG},
        client=confluent_config(settings),
    )


def write_audit(settings: Settings, record: AuditRecord) -> None:
    """Log the record as one line and write it to the audit topic (acknowledged before returning)."""
    log.info("%s", record.line())
    ensure_audit_topic(settings)
    producer = BatchProducer(settings.kafka_bootstrap or "", **confluent_config(settings))
    producer.produce(settings.audit_topic, record.key(), record.value())
    producer.flush_sync(30)


def read_audit(settings: Settings, action: str | None = None, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Every audit record (of ``action``, if given), oldest first; a missing topic reads as empty."""
    bootstrap = settings.kafka_bootstrap or ""
    client = confluent_config(settings)
    if settings.audit_topic not in partition_counts(bootstrap, [settings.audit_topic], client=client):
        return []
    c = Consumer(
        {
            **client,
            "bootstrap.servers": bootstrap,
            "group.id": f"streamproc-audit-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    out: list[dict[str, Any]] = []
    try:
        _, high = c.get_watermark_offsets(TopicPartition(settings.audit_topic, 0), timeout=timeout)
        if high <= 0:
            return []
        c.assign([TopicPartition(settings.audit_topic, 0, OFFSET_BEGINNING)])
        idle = 0
        while idle < 4:
            msgs = c.consume(500, 0.5)
            if not msgs:
                idle += 1
                continue
            idle = 0
            eof = False
            for m in msgs:
                err = m.error()
                if err is not None:
                    eof = eof or err.code() == KafkaError._PARTITION_EOF
                    continue
                try:
                    obj = parse_json(m.value() or b"")
                except ValueError:
                    continue
                if isinstance(obj, dict) and (action is None or obj.get("action") == action):
                    out.append(obj)
            if eof:
                break
    finally:
        c.close()
    return out
