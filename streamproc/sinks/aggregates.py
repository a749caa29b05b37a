"""Aggregate results as sink records: what the aggregate sinks (``sinks/warehouse/aggregates.py``,
``sinks/opensearch/aggregates.py``) read from ``<prefix>.aggregates.<name>``.

A result message (issue 11 §4) has the key ``{"aggregation", "group", "window_start"}`` and the
value ``{"aggregation", "group", "window_start", "window_end", "metrics", "final", "revision",
"closed_by", "late_changes", "incomplete", "skipped"}``. :func:`aggregate_record` turns it into a
:class:`~streamproc.sinks.base.SinkRecord` so the one Sink contract and its runner apply unchanged:

* ``entity`` is ``agg_<aggregation>`` (the table and index name), ``op`` ``upsert``;
* ``key`` holds one field per group field (its value as text, :func:`group_text`) and
  ``window_start`` (the ISO time);
* ``position`` is ``(revision,)``: every guard that keeps the newest position per key (the
  warehouse upsert, the OpenSearch external version) keeps the highest revision, and a
  redelivered result (same revision, same value) changes nothing;
* ``doc`` is the whole result value.

:class:`AggregateTable` is what a sink needs to know of one aggregation (its group fields and the
kind of each metric), built by the runtime from the compiled aggregation spec. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from streamproc.errors import DecodeError
from streamproc.jsonutil import dumps_str, loads
from streamproc.sinks.base import SinkRecord

__all__ = ["AggregateTable", "aggregate_record", "group_text", "entity_of", "WINDOW_START"]

#: The key field of the window start (beside the group fields).
WINDOW_START = "window_start"


@dataclass(frozen=True, slots=True)
class AggregateTable:
    """One aggregation as the aggregate sinks see it: name, group fields, metric name → kind
    (``count``, ``sum``, ``avg``, ``min``, ``max``, ``count_distinct``, ``top_k``)."""

    aggregation: str
    group_by: tuple[str, ...]
    metrics: tuple[tuple[str, str], ...]

    @property
    def entity(self) -> str:
        return entity_of(self.aggregation)


def entity_of(aggregation: str) -> str:
    """The sink entity (table, index) of an aggregation: ``agg_<name>``."""
    return f"agg_{aggregation}"


def group_text(value: Any) -> str:
    """A group value as the text of its key column: a string as itself, anything else (numbers,
    booleans, null, lists) as canonical JSON, so every group has a non-null primary key."""
    return value if isinstance(value, str) else dumps_str(value)


def _field(obj: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = obj.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise DecodeError(f"aggregate result: field {name!r} is missing or not a {getattr(kind, '__name__', kind)}")
    return value


def aggregate_record(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes]] = (),
    timestamp_ms: int | None = None,
) -> SinkRecord:
    """Parse one result message; :class:`DecodeError` (naming fields, never values) if it is not one.
    The Kafka timestamp is not used: results carry no wall-clock time."""
    if value is None:
        raise DecodeError("aggregate result without a value (tombstone)")
    try:
        obj = loads(value)
    except ValueError:
        raise DecodeError("aggregate result is not JSON") from None
    if not isinstance(obj, dict):
        raise DecodeError("aggregate result is not a JSON object")
    name = _field(obj, "aggregation", str)
    group = _field(obj, "group", dict)
    start = _field(obj, WINDOW_START, str)
    revision = _field(obj, "revision", int)
    _field(obj, "metrics", dict)
    if revision < 0:
        raise DecodeError("aggregate result: field 'revision' is negative")
    record_key = {field: group_text(v) for field, v in group.items()}
    record_key[WINDOW_START] = start
    return SinkRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        entity=entity_of(name),
        op="upsert",
        event_type="aggregate",
        namespace=None,
        key=record_key,
        position=(revision,),
        ts_ms=None,
        doc=obj,
        before=None,
        complete=True,
        raw_key=key,
        raw_value=value,
        headers=tuple(headers),
    )
