"""What the :class:`~streamproc.pipeline.processor.Processor` takes and returns: a raw message and
its outcome (a clean event, a dead letter or a drop). Re-exported by :mod:`.processor`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["RawMessage", "Emit", "DeadLetter", "Dropped", "Outcome"]


@dataclass(slots=True)
class RawMessage:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    partition: int = 0
    offset: int | None = None


@dataclass(slots=True)
class Emit:
    entity: str
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    ts_ms: int | None
    op: str
    warnings: tuple[str, ...] = ()  # names of the failed ``warn`` rules (``validation_warnings``)
    #: the redacted document after the change (what ``value`` holds as ``after``; not a copy), for
    #: the schema-drift check; ``None`` for a delete or a partial update of an unknown document
    doc: dict[str, Any] | None = None


@dataclass(slots=True)
class DeadLetter:
    error_class: str  # poison | invalid | configuration | internal
    reason: str  # names fields/rules/formats/limits, never values
    stage: str  # decode | limits | validate | transform
    exception: str


@dataclass(slots=True)
class Dropped:
    reason: str  # duplicate | stale | filtered
    entity: str | None = None
    detail: str | None = None  # for filtered: operation | unrouted | tombstone | transaction | …


Outcome = Emit | DeadLetter | Dropped
