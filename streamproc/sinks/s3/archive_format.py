"""Archive mode, pure: grouping, rotation, object names and encoding (no I/O).

Records are grouped by (entity, event hour, topic, partition) in offset order and cut into
objects of at most ``max_records`` records and ``max_bytes`` (uncompressed) bytes. An object is
named after its first record::

    <prefix>/<entity>/year=YYYY/month=MM/day=DD/hour=HH/<topic>+<partition>+<first offset>.avro

The bytes of an object depend only on its records and its key (the Avro sync marker derives
from the key; gzip headers carry no time), so a retried batch rewrites identical objects.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import fastavro
import orjson

from streamproc.jsonutil import dumps
from streamproc.sinks.base import SinkRecord, utc_from_ms
from streamproc.sinks.s3.layout import Rejected, key_prefix, sha256_hex

if TYPE_CHECKING:
    from streamproc.config.sink_s3 import S3ArchiveSpec

__all__ = [
    "ENVELOPE_SCHEMA",
    "ArchiveObject",
    "hour_partition",
    "archive_row",
    "object_key",
    "sync_marker",
    "encode_avro",
    "encode_jsonl",
    "plan_archive",
    "archive_actions",
]

ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "ChangeEvent",
    "namespace": "streamproc.archive",
    "doc": "One redacted clean event; key and doc are JSON text so every entity shares this schema.",
    "fields": [
        {"name": "entity", "type": "string"},
        {"name": "op", "type": "string"},
        {"name": "event_type", "type": "string"},
        {"name": "namespace", "type": ["null", "string"], "default": None},
        {"name": "key", "type": "string", "doc": "Primary-key fields as a JSON object."},
        {"name": "position", "type": {"type": "array", "items": "long"}},
        {"name": "ts_ms", "type": ["null", "long"], "default": None, "doc": "Source change time, epoch ms."},
        {"name": "doc", "type": ["null", "string"], "default": None, "doc": "Document after the change, JSON."},
        {"name": "complete", "type": "boolean"},
        {"name": "topic", "type": "string"},
        {"name": "partition", "type": "int"},
        {"name": "offset", "type": "long"},
    ],
}
_PARSED = fastavro.parse_schema(ENVELOPE_SCHEMA)
_LONG = (-(2**63), 2**63 - 1)
_ROW_OVERHEAD = 64


def hour_partition(ts_ms: int | None) -> str:
    """``year=YYYY/month=MM/day=DD/hour=HH`` of the event time in UTC; an event without one goes
    to the epoch hour ``year=1970/month=01/day=01/hour=00`` (its ``ts_ms`` stays null).
    ``ValueError`` (naming no value) when the time is outside years 1-9999."""
    try:
        t = utc_from_ms(ts_ms or 0)
    except ValueError:
        raise ValueError("ts_ms outside the datetime range") from None
    return f"year={t.year:04d}/month={t.month:02d}/day={t.day:02d}/hour={t.hour:02d}"


def archive_row(record: SinkRecord) -> dict[str, Any]:
    """The envelope of one record (``ValueError`` names what does not fit, never a value)."""
    if not all(_LONG[0] <= p <= _LONG[1] for p in record.position):
        raise ValueError("position element outside the 64-bit range")
    if record.ts_ms is not None and not _LONG[0] <= record.ts_ms <= _LONG[1]:
        raise ValueError("ts_ms outside the 64-bit range")
    try:
        key = dumps(record.key).decode()
        doc = dumps(record.doc).decode() if record.doc is not None else None
    except (TypeError, ValueError, UnicodeDecodeError):
        raise ValueError("key or document is not JSON-serialisable") from None
    return {
        "entity": record.entity,
        "op": record.op,
        "event_type": record.event_type,
        "namespace": record.namespace,
        "key": key,
        "position": list(record.position),
        "ts_ms": record.ts_ms,
        "doc": doc,
        "complete": record.complete,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
    }


def _row_size(row: dict[str, Any]) -> int:
    return len(row["key"]) + len(row["doc"] or "") + len(row["topic"]) + _ROW_OVERHEAD


def object_key(spec: S3ArchiveSpec, entity: str, hour: str, topic: str, partition: int, first_offset: int) -> str:
    ext = "avro" if spec.format == "avro" else "jsonl.gz"
    return f"{key_prefix(spec.prefix, entity, hour)}{topic}+{partition}+{first_offset}.{ext}"


def sync_marker(key: str) -> bytes:
    """The 16-byte Avro sync marker of the object at ``key`` (random in fastavro by default)."""
    return hashlib.sha256(key.encode()).digest()[:16]


def encode_avro(rows: list[dict[str, Any]], codec: str, key: str) -> bytes:
    buf = io.BytesIO()
    fastavro.writer(buf, _PARSED, rows, codec=codec, sync_marker=sync_marker(key))
    return buf.getvalue()


def encode_jsonl(rows: list[dict[str, Any]]) -> bytes:
    """gzip JSON Lines; ``key`` and ``doc`` are nested objects here, not JSON text."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        for row in rows:
            line = dict(row)
            line["key"] = orjson.Fragment(row["key"])
            line["doc"] = orjson.Fragment(row["doc"]) if row["doc"] is not None else None
            gz.write(orjson.dumps(line) + b"\n")
    return raw.getvalue()


@dataclass(frozen=True, slots=True)
class ArchiveObject:
    key: str
    body: bytes
    entity: str
    topic: str
    partition: int
    first_offset: int
    offsets: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.offsets)


def _groups(
    spec: S3ArchiveSpec, records: Iterable[SinkRecord], rejected: list[Rejected]
) -> dict[tuple[str, str, str, int], list[dict[str, Any]]]:
    groups: dict[tuple[str, str, str, int], list[dict[str, Any]]] = {}
    for r in records:
        try:
            row = archive_row(r)
            hour = hour_partition(r.ts_ms)
        except ValueError as exc:  # messages name what does not fit, never a value
            rejected.append(Rejected(r, str(exc)))
            continue
        groups.setdefault((r.entity, hour, r.topic, r.partition), []).append(row)
    return groups


def _cut(rows: list[dict[str, Any]], max_records: int, max_bytes: int) -> Iterable[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        n = _row_size(row)
        if chunk and (len(chunk) >= max_records or size + n > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += n
    if chunk:
        yield chunk


def plan_archive(spec: S3ArchiveSpec, records: Iterable[SinkRecord]) -> tuple[list[ArchiveObject], list[Rejected]]:
    """The objects of these records (sorted by topic, partition, first offset, entity) and the
    records that cannot be archived. Cutting is greedy from each group's first record, so a
    longer redelivery of the same offsets yields the same keys holding supersets."""
    rejected: list[Rejected] = []
    objects: list[ArchiveObject] = []
    for (entity, hour, topic, partition), rows in _groups(spec, records, rejected).items():
        rows.sort(key=lambda row: row["offset"])
        for chunk in _cut(rows, spec.max_records, spec.max_bytes):
            first = chunk[0]["offset"]
            key = object_key(spec, entity, hour, topic, partition, first)
            body = encode_avro(chunk, spec.codec, key) if spec.format == "avro" else encode_jsonl(chunk)
            offsets = tuple(row["offset"] for row in chunk)
            objects.append(ArchiveObject(key, body, entity, topic, partition, first, offsets))
    objects.sort(key=lambda o: (o.topic, o.partition, o.first_offset, o.entity))
    return objects, rejected


def archive_actions(
    spec: S3ArchiveSpec, objects: list[ArchiveObject], rejected: list[Rejected]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "kind": "s3",
            "bucket": spec.bucket,
            "key": o.key,
            "bytes": len(o.body),
            "sha256": sha256_hex(o.body),
            "records": o.count,
        }
        for o in objects
    ]
    out.extend(
        {
            "kind": "dlq",
            "entity": r.record.entity,
            "offset": r.record.offset,
            "error_class": r.error_class,
            "reason": r.reason,
        }
        for r in rejected
    )
    return out
