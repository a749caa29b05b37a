"""Pure layout of the trigger-compatible S3 (+SQS) sink: object keys, parts, messages.

No I/O here (boto3 lives in ``aws.py``, ``trigger.py`` and ``archive.py``, the archive encoding
in ``archive_format.py``, the progress markers in ``markers.py``, the ``JSON.stringify``
emulation in ``js_json.py``; the ``sinks.s3_trigger`` / ``sinks.s3_archive`` models in
``streamproc.config.sink_s3``); ``write()`` and ``dry-run`` both use these functions.

Trigger-compatible mode reproduces what the Atlas triggers wrote: per change, the document as
``JSON.stringify`` printed it at ``<env><collection>/<documentId>-<sourceMillis>`` (split into
``…-0``, ``…-1``, … above ``max_part_bytes``), then one SQS message listing the parts.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamproc.jsonutil import loads
from streamproc.sinks.base import SinkRecord
from streamproc.sinks.s3.js_json import js_json

if TYPE_CHECKING:
    from streamproc.config.sink_s3 import S3TriggerSpec

__all__ = [
    "MAX_PART_BYTES",
    "MAX_KEY_BYTES",
    "SQS_MAX_BYTES",
    "TRIGGER_OPERATIONS",
    "TriggerMessage",
    "TriggerObject",
    "Rejected",
    "Skipped",
    "document_id",
    "key_prefix",
    "base_key",
    "split_utf8",
    "part_keys",
    "sqs_id",
    "is_fifo",
    "sqs_body",
    "plan_trigger",
    "trigger_actions",
    "sha256_hex",
]

#: Parts of a trigger-compatible object are at most this many bytes (what the triggers used).
MAX_PART_BYTES = 4_194_304
#: S3 rejects longer object keys (UTF-8 bytes).
MAX_KEY_BYTES = 1024
#: Largest SQS message body (and SendMessageBatch request) this sink sends.
SQS_MAX_BYTES = 262_144

#: Clean-event op → the ``operation`` a trigger's change event would have carried.
TRIGGER_OPERATIONS: dict[str, str] = {
    "insert": "insert",
    "update": "update",
    "replace": "replace",
    "delete": "delete",
    "snapshot": "insert",  # an initial-load read: the document comes into existence for consumers
    "upsert": "replace",  # a full document that replaces whatever was there
}


# --------------------------------------------------------------------------- keys and parts


def _scalar_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return js_json(value).decode()


def document_id(key: dict[str, Any]) -> str:
    """``_id`` in string form (what a JavaScript template literal of an ObjectId printed); for any
    other key, its values' string forms in key order joined with ``_``. Objects print as JSON."""
    if "_id" in key:
        return _scalar_text(key["_id"])
    return "_".join(_scalar_text(v) for v in key.values())


def key_prefix(*segments: str) -> str:
    """The segments joined by ``/`` with a trailing ``/`` (``""`` if none is left), no double slashes."""
    parts = [s.strip("/") for s in segments if s and s.strip("/")]
    return "/".join(parts) + "/" if parts else ""


def base_key(env: str, collection: str, doc_id: str, source_ms: int) -> str:
    """``<env>/<collection>/<documentId>-<sourceMillis>``, joined without double slashes."""
    return f"{key_prefix(env, collection)}{doc_id}-{source_ms}"


def split_utf8(data: bytes, max_bytes: int) -> list[bytes]:
    """Slices of at most ``max_bytes`` bytes that never cut a UTF-8 character; ``[data]`` if it fits."""
    if len(data) <= max_bytes:
        return [data]
    out: list[bytes] = []
    start, n = 0, len(data)
    while start < n:
        end = min(start + max_bytes, n)
        if end < n:
            while end > start and (data[end] & 0xC0) == 0x80:
                end -= 1
            if end == start:  # not UTF-8 at all: cut at the limit rather than loop forever
                end = start + max_bytes
        out.append(data[start:end])
        start = end
    return out


def part_keys(base: str, count: int) -> list[str]:
    """The base key alone for one part (what the triggers wrote for small documents), else ``-0``…"""
    return [base] if count == 1 else [f"{base}-{i}" for i in range(count)]


_SQS_ID_BAD = re.compile(r"[^A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]")
SQS_ID_MAX = 128


def sqs_id(value: str) -> str:
    """A MessageGroupId/MessageDeduplicationId: ``value`` itself when it is at most 128 characters
    of SQS's allowed set; otherwise the allowed-set version, cut, plus ``~`` and a hash of
    ``value`` (deterministic, and distinct values stay distinct)."""
    clean = _SQS_ID_BAD.sub("_", value)
    if clean == value and len(value) <= SQS_ID_MAX:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{clean[: SQS_ID_MAX - 33]}~{digest}"


def is_fifo(queue: str) -> bool:
    """A queue name or URL names a FIFO queue when its last segment ends with ``.fifo``."""
    return queue.rstrip("/").rsplit("/", 1)[-1].endswith(".fifo")


def sqs_body(operation: str, bucket: str, keys: list[str]) -> str:
    return js_json(
        {"operation": operation, "S3FilePartsOfJSONDocument": [{"Bucket": bucket, "Key": k} for k in keys]}
    ).decode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True, slots=True)
class TriggerMessage:
    queue: str  # as configured: a name or a URL
    group_id: str | None  # FIFO only
    dedup_id: str | None  # FIFO only
    body: str


@dataclass(frozen=True, slots=True)
class TriggerObject:
    """What one change writes: its parts (key, bytes) in order, then at most one message."""

    record: SinkRecord
    parts: tuple[tuple[str, bytes], ...]
    message: TriggerMessage | None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A permanent per-record failure (goes to the DLQ). ``reason`` names no value."""

    record: SinkRecord
    reason: str
    error_class: str = "invalid"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record this mode deliberately writes nothing for."""

    record: SinkRecord
    reason: str


def _body(record: SinkRecord) -> dict[str, Any] | None:
    if record.op == "delete":
        return record.key  # what the triggers wrote: fullDocument || documentKey
    return record.doc


def plan_trigger(spec: S3TriggerSpec, record: SinkRecord) -> TriggerObject | Rejected | Skipped:
    """The object parts and message of one change (the same for a redelivered record)."""
    entity = record.entity
    if record.op == "truncate" or not record.key:
        return Skipped(record, f"{record.op} of entity '{entity}' has no document key")
    operation = TRIGGER_OPERATIONS.get(record.op)
    if operation is None:
        return Rejected(record, f"operation '{record.op}' has no trigger equivalent")
    if record.ts_ms is None:
        return Rejected(record, "no source change time (ts_ms): the trigger key needs sourceMillis")
    body = _body(record)
    if body is None:
        return Rejected(
            record,
            "partial update without a full document (complete=false): trigger consumers expect the whole document",
        )
    try:
        data = js_json(body)
    except (TypeError, ValueError):
        return Rejected(record, "document is not JSON-serialisable")
    base = base_key(spec.env, spec.collection(entity), document_id(record.key), record.ts_ms)
    chunks = split_utf8(data, spec.max_part_bytes)
    keys = part_keys(base, len(chunks))
    if len(keys[-1].encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return Rejected(record, f"object key longer than {MAX_KEY_BYTES} bytes", "permanent")
    message = None
    queue = spec.queue(entity)
    if queue:
        fifo = is_fifo(queue)
        text = sqs_body(operation, spec.bucket, keys)
        if len(text.encode()) > SQS_MAX_BYTES:
            return Rejected(record, f"SQS message longer than {SQS_MAX_BYTES} bytes ({len(keys)} parts)", "permanent")
        message = TriggerMessage(
            queue=queue,
            group_id=sqs_id(spec.collection(entity)) if fifo else None,
            dedup_id=sqs_id(base) if fifo else None,
            body=text,
        )
    return TriggerObject(record, tuple(zip(keys, chunks, strict=True)), message)


def trigger_actions(spec: S3TriggerSpec, item: TriggerObject | Rejected | Skipped) -> list[dict[str, Any]]:
    """The dry-run lines of one planned record: ``s3`` per part then ``sqs``, or ``dlq``/``skip``."""
    if isinstance(item, Rejected):
        return [
            {
                "kind": "dlq",
                "entity": item.record.entity,
                "offset": item.record.offset,
                "error_class": item.error_class,
                "reason": item.reason,
            }
        ]
    if isinstance(item, Skipped):
        return [{"kind": "skip", "entity": item.record.entity, "offset": item.record.offset, "reason": item.reason}]
    out: list[dict[str, Any]] = [
        {"kind": "s3", "bucket": spec.bucket, "key": k, "bytes": len(b), "sha256": sha256_hex(b)} for k, b in item.parts
    ]
    m = item.message
    if m is not None:
        out.append(
            {"kind": "sqs", "queue": m.queue, "group": m.group_id, "dedup_id": m.dedup_id, "body": loads(m.body)}
        )
    return out
