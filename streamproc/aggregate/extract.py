"""What one row contributes to an aggregation: its time, whether ``where`` keeps it, its group
and the inputs of every metric (numbers already exact and canonical)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from streamproc.aggregate.spec import AggregationSpec
from streamproc.aggregate.values import canon_json, canon_number, resolve, resolve_one, resolve_pairs
from streamproc.aggregate.windows import local_midnight, zone

__all__ = ["event_time", "parse_time", "passes", "contribution"]

_MAX_TIME_TEXT = 64
MIN_TIME_MS = -2_208_988_800_000  # 1900-01-01T00:00:00Z
MAX_TIME_MS = 32_503_680_000_000  # 3000-01-01T00:00:00Z: later (or earlier) times are not times


def _bounded(ms: int) -> int | None:
    return ms if MIN_TIME_MS <= ms < MAX_TIME_MS else None


def parse_time(value: Any, tz: str) -> int | None:
    """A time value as epoch milliseconds: an integer is epoch ms; an ISO 8601 text with an offset
    is absolute, one without (or a date alone) is local time of ``tz``. ``None`` if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _bounded(value)
    if isinstance(value, float) and value == value and abs(value) < 1e17:
        return _bounded(int(value))
    if not isinstance(value, str) or len(value) > _MAX_TIME_TEXT:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return _bounded(local_midnight(tz, date.fromisoformat(text).toordinal()))
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone(tz))
    try:
        seconds = int(dt.timestamp())
    except (OverflowError, ValueError):
        return None
    return _bounded(seconds * 1000 + dt.microsecond // 1000)


def event_time(spec: AggregationSpec, event: dict[str, Any], doc: Any) -> int | None:
    """The event's time: the source change time (``ts_ms``) or the row's ``time`` field."""
    if spec.time is None:
        ts = event.get("ts_ms")
        return _bounded(ts) if isinstance(ts, int) and not isinstance(ts, bool) else None
    if doc is None:
        return None
    return parse_time(resolve_one(doc, spec.time), spec.timezone)


def _same(value: Any, choices: tuple[Any, ...]) -> bool:
    text = canon_json(value)
    return any(canon_json(c) == text for c in choices)


def passes(spec: AggregationSpec, op: Any, doc: Any) -> bool:
    """Whether ``where`` keeps the event: its op, and its field in / not in the lists (a missing
    field is ``null``)."""
    where = spec.where
    if where.ops is not None and op not in where.ops:
        return False
    if where.field is None:
        return True
    value = resolve_one(doc, where.field) if doc is not None else None
    if where.in_ is not None and not _same(value, where.in_):
        return False
    return not (where.not_in is not None and _same(value, where.not_in))


def contribution(spec: AggregationSpec, doc: Any, t: int) -> dict[str, Any]:
    """``{"t", "g": [[name, value], …], "i": {metric: input}, "sk": skipped}`` of one row."""
    group = [[name, resolve_one(doc, path)] for name, path in zip(spec.group_names, spec.group_by, strict=True)]
    inputs: dict[str, Any] = {}
    numeric: dict[tuple[str, ...], tuple[list[str], int]] = {}
    skipped = 0
    for m in spec.metrics:
        if m.kind == "count":
            inputs[m.name] = 1 if m.field is None else len(resolve(doc, m.field))
            continue
        assert m.field is not None
        if m.kind == "count_distinct":
            inputs[m.name] = [canon_json(v) for v in resolve(doc, m.field)]
        elif m.kind == "top_k":
            if m.weight is None:  # each value weighs 1
                inputs[m.name] = [[canon_json(value), "1"] for value in resolve(doc, m.field)]
                continue
            pairs = []
            for value, weight in resolve_pairs(doc, m.field, m.weight):
                w = canon_number(weight)
                if w is None:
                    skipped += 1
                else:
                    pairs.append([canon_json(value), w])
            inputs[m.name] = pairs
        else:  # sum, avg, min and max of one field share one extraction
            if m.field not in numeric:
                values = resolve(doc, m.field)
                good = [text for text in map(canon_number, values) if text is not None]
                numeric[m.field] = (good, len(values) - len(good))
            inputs[m.name], bad = numeric[m.field]
            skipped += bad
    return {"t": t, "g": group, "i": inputs, "sk": skipped}
