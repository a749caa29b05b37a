"""What the downstream step emits: an aggregate (``<prefix>.aggregates.<name>``) or a late
record (``<prefix>.aggregates.late``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from streamproc.aggregate import metrics as M
from streamproc.jsonutil import dumps

if TYPE_CHECKING:
    from streamproc.aggregate.delta import Delta
    from streamproc.aggregate.spec import AggregationSpec

__all__ = ["Result", "iso_ms", "cell_result", "late_result"]


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


def cell_result(spec: AggregationSpec, cell: dict[str, Any], final: bool) -> Result:
    """The result of a cell (see :mod:`streamproc.aggregate.cells`)."""
    group = dict(cell["g"])
    start = iso_ms(cell["s"])
    value = {
        "aggregation": spec.name,
        "group": group,
        "window_start": start,
        "window_end": iso_ms(cell["e"]),
        "metrics": {m.name: M.value(m, cell["m"][m.name]) for m in spec.metrics},
        "final": final,
        "revision": cell["n"] if spec.emit == "updates" else cell["r"],
        "closed_by": cell["c"] if final else None,
        "late_changes": cell["lc"],
        "incomplete": cell["inc"],
        "skipped": cell["sk"],
    }
    return Result("aggregate", {"aggregation": spec.name, "group": group, "window_start": start}, value)


def late_result(spec: AggregationSpec, delta: Delta, start: int, end: int, reason: str) -> Result:
    """A late record: the change's aggregation, clean-event key, group and window, no values."""
    key = {"aggregation": spec.name, "key": delta.key}
    value = {
        **key,
        "group": delta.group,
        "window_start": iso_ms(start),
        "window_end": iso_ms(end),
        "sign": delta.sign,
        "reason": reason,
    }
    return Result("late", key, value)
