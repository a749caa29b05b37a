"""The pure part of the EventBridge sink: the PutEvents entry of one clean event, its size as
EventBridge counts it, and the batches. No I/O; ``sink.py`` sends what this plans and
``streamproc dry-run`` prints it (:func:`actions`).

Everything in an entry derives from the clean event (the redacted key, before and after, its
position, its source time and its Kafka timestamp), never from the wall clock, so a retried or
redelivered batch sends entries equal to the first ones — the same ``eventId`` above all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from streamproc.jsonutil import dumps, dumps_str, loads
from streamproc.sinks.base import SinkRecord, utc_from_ms

if TYPE_CHECKING:
    from streamproc.config.sink_eventbridge import EventBridgeSpec

__all__ = [
    "MAX_ENTRY_BYTES",
    "MAX_ENTRIES",
    "DETAIL_VERSION",
    "Entry",
    "Rejected",
    "event_id",
    "operation",
    "changes",
    "detail",
    "entry_size",
    "plan_entry",
    "pointer_key",
    "pointer_entry",
    "batches",
    "actions",
]

#: PutEvents: at most 256 KB per entry and per request, at most 10 entries per request.
MAX_ENTRY_BYTES = 256 * 1024
MAX_ENTRIES = 10
#: The version of the Detail layout (``metadata.version``).
DETAIL_VERSION = "1.0"
_TIME_BYTES = 14  # EventBridge counts a Time, whatever its value, as 14 bytes

_OPERATIONS = {
    "insert": "INSERT",
    "snapshot": "INSERT",
    "update": "UPDATE",
    "replace": "UPDATE",
    "delete": "DELETE",
}


@dataclass(frozen=True, slots=True)
class Entry:
    """One planned PutEvents entry of ``record`` (``detail`` is the exact Detail string sent)."""

    record: SinkRecord
    bus: str
    source: str
    detail_type: str
    time: datetime | None
    detail: str
    event_id: str

    @property
    def size(self) -> int:
        return entry_size(self.source, self.detail_type, self.detail, self.time is not None)

    def request(self) -> dict[str, Any]:
        """The entry as boto3's ``put_events(Entries=[...])`` takes it."""
        out: dict[str, Any] = {
            "Source": self.source,
            "DetailType": self.detail_type,
            "Detail": self.detail,
            "EventBusName": self.bus,
        }
        if self.time is not None:
            out["Time"] = self.time
        return out


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that cannot become an entry; ``reason`` names the limit or field, never a value."""

    record: SinkRecord
    reason: str
    error_class: str = "permanent"


def entry_size(source: str, detail_type: str, detail: str, has_time: bool) -> int:
    """An entry's size as EventBridge computes it (its "Calculating PutEvents event entry size"):
    14 bytes for a Time, plus the UTF-8 bytes of Source, DetailType and Detail."""
    return (
        (_TIME_BYTES if has_time else 0)
        + len(source.encode("utf-8", "surrogatepass"))
        + len(detail_type.encode("utf-8", "surrogatepass"))
        + len(detail.encode("utf-8", "surrogatepass"))
    )


def event_id(record: SinkRecord) -> str:
    """``evt_<source ms>_<hash>``: SHA-256 (first 24 lowercase hex digits) of the entity, the
    redacted key and the position; a record without a position adds its topic, partition and
    offset (equal for a redelivery of the clean event). ``<source ms>`` is 0 when unknown."""
    ident: list[Any] = [record.entity, record.key, list(record.position)]
    if not record.position:
        ident += [record.topic, record.partition, record.offset]
    digest = hashlib.sha256(dumps(ident)).hexdigest()[:24]
    return f"evt_{record.ts_ms if record.ts_ms is not None else 0}_{digest}"


def operation(record: SinkRecord) -> str | None:
    """INSERT, UPDATE or DELETE; an upsert is an UPDATE when a previous document is known, else an
    INSERT; ``None`` for a truncate (no document changed)."""
    if record.op == "upsert":
        return "UPDATE" if record.before is not None else "INSERT"
    return _OPERATIONS.get(record.op)


def _leaves(doc: dict[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """Dotted path → value of every leaf (a non-object or an empty object); arrays are leaves."""
    out: dict[str, Any] = {}
    for k, v in (doc or {}).items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_leaves(v, path + "."))
        else:
            out[path] = v
    return out


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Field path → ``{"old", "new"}`` of every leaf that differs (absent counts as null)."""
    old, new = _leaves(before), _leaves(after)
    out: dict[str, dict[str, Any]] = {}
    for path in list(old) + [p for p in new if p not in old]:
        o, n = old.get(path), new.get(path)
        if o != n or type(o) is not type(n):
            out[path] = {"old": o, "new": n}
    return out


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    try:
        return utc_from_ms(ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except ValueError:
        return None


def entity_id(key: dict[str, Any]) -> str:
    """The (redacted) key as a string: its value when it has one field, else its JSON."""
    if len(key) == 1:
        (value,) = key.values()
        return value if isinstance(value, str) else dumps_str(value)
    return dumps_str(key)


def detail(record: SinkRecord, op: str) -> dict[str, Any]:
    """The Detail object of ``record`` (see docs/SINKS-EVENTBRIDGE.md)."""
    source_time = _iso(record.ts_ms)
    processed = _iso(record.timestamp_ms) or source_time
    after = None if op == "DELETE" else record.doc
    return {
        "eventId": event_id(record),
        "eventType": record.event_type,
        "entityId": entity_id(record.key),
        "entityType": record.entity,
        "operation": op,
        "timestamp": source_time or processed,
        "changes": changes(record.before, after),
        "metadata": {
            "sourceTable": record.namespace,
            "sequenceNumber": list(record.position),
            "processedAt": processed,
            "version": DETAIL_VERSION,
        },
    }


def plan_entry(spec: EventBridgeSpec, record: SinkRecord) -> Entry | Rejected | None:
    """The entry of ``record``; ``Rejected`` when it cannot be one (a partial update without a
    known previous document, no event type); ``None`` when nothing is sent (a truncate). Whether
    it is too large is the caller's decision (:attr:`Entry.size`)."""
    op = operation(record)
    if op is None:
        return None
    if not record.complete:
        return Rejected(record, "partial update without a known previous document: no changes to distribute", "invalid")
    if not record.event_type:
        return Rejected(record, "clean event without an event type (DetailType)", "invalid")
    body = detail(record, op)
    time = utc_from_ms(record.ts_ms) if record.ts_ms is not None and _iso(record.ts_ms) else None
    return Entry(
        record=record,
        bus=spec.bus or "default",
        source=spec.source(record.entity),
        detail_type=record.event_type,
        time=time,
        detail=dumps_str(body),
        event_id=body["eventId"],
    )


def pointer_key(spec: EventBridgeSpec, entry: Entry) -> str:
    """The S3 key of an oversize entry's detail: ``<prefix>/<entity>/<eventId>.json``."""
    assert spec.pointer is not None
    return f"{spec.pointer.prefix.strip('/')}/{entry.record.entity}/{entry.event_id}.json"


def pointer_entry(spec: EventBridgeSpec, entry: Entry) -> Entry:
    """The entry that replaces an oversize one: its Detail without ``changes``, plus
    ``detailPointer`` ``{"bucket", "key", "bytes"}`` naming the S3 object holding the full Detail."""
    assert spec.pointer is not None
    body = loads(entry.detail)
    body.pop("changes", None)
    body["detailPointer"] = {
        "bucket": spec.pointer.bucket,
        "key": pointer_key(spec, entry),
        "bytes": len(entry.detail.encode("utf-8", "surrogatepass")),
    }
    return Entry(entry.record, entry.bus, entry.source, entry.detail_type, entry.time, dumps_str(body), entry.event_id)


def batches(entries: Iterable[Entry]) -> Iterator[list[Entry]]:
    """Consecutive requests of at most :data:`MAX_ENTRIES` entries and :data:`MAX_ENTRY_BYTES`
    bytes in all (every entry given is within the limit itself). Order is kept."""
    out: list[Entry] = []
    total = 0
    for e in entries:
        n = e.size
        if out and (len(out) >= MAX_ENTRIES or total + n > MAX_ENTRY_BYTES):
            yield out
            out, total = [], 0
        out.append(e)
        total += n
    if out:
        yield out


def resolve(spec: EventBridgeSpec, record: SinkRecord) -> tuple[Entry | Rejected | None, Entry | None]:
    """(what is sent or rejected, the oversize original whose detail goes to S3 first, if any)."""
    planned = plan_entry(spec, record)
    if not isinstance(planned, Entry) or planned.size <= MAX_ENTRY_BYTES:
        return planned, None
    too_large = f"entry of {planned.size} bytes is above the PutEvents limit of {MAX_ENTRY_BYTES}"
    if spec.oversize != "s3-pointer":
        return Rejected(record, too_large), None
    small = pointer_entry(spec, planned)
    if small.size > MAX_ENTRY_BYTES:
        return Rejected(record, too_large + ", even as an S3 pointer"), None
    return small, planned


def actions(spec: EventBridgeSpec, record: SinkRecord) -> list[dict[str, Any]]:
    """The dry-run lines of one record: ``s3`` (an oversize detail) then ``eventbridge``, or ``dlq``."""
    item, original = resolve(spec, record)
    if item is None:
        return []
    if isinstance(item, Rejected):
        return [
            {
                "kind": "dlq",
                "entity": record.entity,
                "offset": record.offset,
                "error_class": item.error_class,
                "reason": item.reason,
            }
        ]
    out: list[dict[str, Any]] = []
    if original is not None and spec.pointer is not None:
        out.append(
            {
                "kind": "s3",
                "bucket": spec.pointer.bucket,
                "key": pointer_key(spec, original),
                "bytes": len(original.detail.encode()),
            }
        )
    out.append(
        {
            "kind": "eventbridge",
            "bus": item.bus,
            "source": item.source,
            "detail_type": item.detail_type,
            "id": item.event_id,
            "detail": loads(item.detail),
        }
    )
    return out
