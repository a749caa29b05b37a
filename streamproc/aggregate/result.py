"""What the downstream step emits: an aggregate (``<prefix>.aggregates.<name>``) or a late
record (``<prefix>.aggregates.late``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streamproc.jsonutil import dumps

__all__ = ["Result", "iso_ms"]


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 in UTC with milliseconds and ``Z``."""
    dt = datetime.fromtimestamp(ms // 1000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


@dataclass(frozen=True)
class Result:
    """``topic_kind`` ``aggregate``: ``key`` = ``{"aggregation", "group", "window_start"}``, ``value``
    = ``{"aggregation", "group", "window_start", "window_end", "metrics", "final", "revision",
    "closed_by", "late_changes", "incomplete", "skipped"}`` (``closed_by`` ``None`` while open).

    ``topic_kind`` ``late``: a change for a window no longer in state; ``key`` =
    ``{"aggregation", "key"}`` (the clean event's key), ``value`` = ``{"aggregation", "key",
    "group", "window_start", "window_end", "sign", "reason"}`` — no metric inputs.
    """

    topic_kind: str
    key: dict[str, Any]
    value: dict[str, Any]

    @property
    def aggregation(self) -> str:
        return str(self.key["aggregation"])

    def key_bytes(self) -> bytes:
        """Canonical JSON of :attr:`key` (the Kafka message key)."""
        return dumps(self.key)

    def value_bytes(self) -> bytes:
        """Canonical JSON of :attr:`value` (the Kafka message value)."""
        return dumps(self.value)
