"""The sink contract (modelled on Kafka Connect's SinkTask and Quix Streams' BatchingSink).

A sink receives a :class:`SinkBatch` of clean events (what the ingest stage wrote to
``<prefix>.events.<entity>``) and writes it durably and idempotently:

* ``write()`` returns only once every record of the batch is durable at the target, or has been
  reported as a permanent per-record failure with :meth:`SinkBatch.fail` (those go to the DLQ).
* ``write()`` raises :class:`RetriableSinkError` for transient failures (the runner retries the
  whole batch with backoff and jitter behind a circuit breaker), :class:`SinkBackpressure` when the
  target asks to slow down, and :class:`FatalSinkError` for configuration failures (missing bucket,
  wrong credentials), which stop the worker with the message.
* A retried or redelivered batch produces the same result as one write: every object key, message
  deduplication id, document version and row guard derives from the record's source position,
  never from the wall clock.
* ``plan()`` is pure: the actions records cause, as ``streamproc dry-run`` prints them, computed
  by the same code ``write()`` uses.

Offsets of a batch are acknowledged by the runner only after ``write()`` returned.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from streamproc.errors import DecodeError
from streamproc.jsonutil import loads

__all__ = ["SinkRecord", "SinkFailure", "SinkBatch", "Sink", "record_from_message", "utc_from_ms"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_from_ms(ms: float) -> datetime:
    """Epoch milliseconds as an aware UTC datetime; ``ValueError`` (naming no value) outside years 1–9999."""
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except (OverflowError, ValueError):
        raise ValueError("epoch milliseconds outside the datetime range") from None


@dataclass(frozen=True, slots=True)
class SinkRecord:
    """One clean event, as read from a clean topic (see ``pipeline/processor.py`` ``_emit``)."""

    topic: str
    partition: int
    offset: int
    entity: str
    op: str  # insert | update | replace | upsert | delete | snapshot | truncate
    event_type: str
    namespace: str | None  # "database.collection" or "schema.table"
    key: dict[str, Any]  # primary-key fields (already redacted where configured)
    position: tuple[int, ...]  # orders events of one key; equal for a redelivered event
    ts_ms: int | None  # source change time, epoch milliseconds
    doc: dict[str, Any] | None  # the full redacted document after the change (None for delete)
    before: dict[str, Any] | None
    complete: bool  # False: a partial update with no known previous document
    raw_key: bytes | None = field(default=None, repr=False)  # original bytes, for the DLQ
    raw_value: bytes | None = field(default=None, repr=False)
    headers: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    #: the clean message's Kafka timestamp (epoch ms): when the ingest worker produced it; equal for
    #: a redelivered message, ``None`` when unknown (dry-run)
    timestamp_ms: int | None = None

    @property
    def size(self) -> int:
        return len(self.raw_value or b"") + len(self.raw_key or b"")


def record_from_message(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes]] = (),
    timestamp_ms: int | None = None,
) -> SinkRecord:
    """Parse a clean-topic message; :class:`DecodeError` (poison, names no values) if it is not one."""
    if value is None:
        raise DecodeError("clean event without a value (tombstone)")
    try:
        obj = loads(value)
    except ValueError:
        raise DecodeError("clean event is not JSON") from None
    if not isinstance(obj, dict):
        raise DecodeError("clean event is not a JSON object")
    try:
        entity = obj["entity"]
        op = obj["op"]
        k = obj["key"]
        position = tuple(obj.get("position") or ())
    except (KeyError, TypeError):
        raise DecodeError("clean event lacks entity, op or key") from None
    if not isinstance(entity, str) or not isinstance(op, str) or not isinstance(k, dict):
        raise DecodeError("clean event has a malformed entity, op or key")
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in position):
        raise DecodeError("clean event position is not a list of integers")
    ts = obj.get("ts_ms")
    return SinkRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        entity=entity,
        op=op,
        event_type=str(obj.get("event_type") or ""),
        namespace=obj.get("namespace"),
        key=k,
        position=position,
        ts_ms=ts if isinstance(ts, int) and not isinstance(ts, bool) else None,
        doc=obj.get("after"),
        before=obj.get("before"),
        complete=bool(obj.get("complete", True)),
        raw_key=key,
        raw_value=value,
        headers=tuple(headers),
        timestamp_ms=timestamp_ms,
    )


@dataclass(slots=True)
class SinkFailure:
    record: SinkRecord
    reason: str  # names fields, types, limits — never values
    error_class: str = "permanent"  # permanent | invalid | poison


@dataclass(slots=True)
class SinkBatch:
    """Records of one or more partitions, in offset order per partition."""

    records: list[SinkRecord]
    failures: list[SinkFailure] = field(default_factory=list)

    def fail(self, record: SinkRecord, reason: str, error_class: str = "permanent") -> None:
        """Report a permanent per-record failure; the record goes to the DLQ, the batch goes on."""
        self.failures.append(SinkFailure(record, reason, error_class))

    def __len__(self) -> int:
        return len(self.records)


class Sink(abc.ABC):
    """One target. Subclasses set ``name``, which labels the sink's metrics, logs and DLQ records
    (s3, s3-archive, opensearch, warehouse)."""

    name: str = "sink"
    #: (max records, max seconds, max bytes) of this sink's batches; ``None``: the sink settings'.
    batch_limits: tuple[int, float, int] | None = None

    async def start(self) -> None:  # noqa: B027 - an optional hook: by default nothing to connect
        """Connect, validate the configuration, create what is missing (FatalSinkError if wrong)."""

    @abc.abstractmethod
    async def write(self, batch: SinkBatch) -> None:
        """Write the batch durably and idempotently; see the module docstring."""

    async def stop(self) -> None:  # noqa: B027 - an optional hook: by default nothing to release
        """Release connections. Called once, after the last ``write``."""

    def wants(self, record: SinkRecord) -> bool:
        """Whether this sink writes this record (by configuration: its entity, its operation)."""
        return True

    def plan(self, records: list[SinkRecord]) -> list[dict[str, Any]]:
        """The dry-run actions of these records, in order (pure: no I/O, same code as ``write``)."""
        return []
