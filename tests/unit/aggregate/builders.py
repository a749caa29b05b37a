"""Clean events and specs for the aggregation tests."""

from __future__ import annotations

from typing import Any

from streamproc.aggregate import AggregationSpec, MetricSpec, WindowSpec
from streamproc.aggregate.spec import WhereSpec

HOUR = 3_600_000
MINUTE = 60_000

ALL_METRICS = (
    MetricSpec("n", "count"),
    MetricSpec("total", "sum", ("amount",)),
    MetricSpec("mean", "avg", ("amount",)),
    MetricSpec("low", "min", ("amount",)),
    MetricSpec("high", "max", ("amount",)),
    MetricSpec("users", "count_distinct", ("user",)),
    MetricSpec("top", "top_k", ("items", "sku"), k=3, weight=("items", "qty")),
)


def spec(**kw: Any) -> AggregationSpec:
    base: dict[str, Any] = {
        "name": "agg",
        "entity": "orders",
        "window": WindowSpec("tumbling", size_ms=HOUR),
        "group_by": (("kind",),),
        "metrics": ALL_METRICS,
        "where": WhereSpec(),
    }
    base.update(kw)
    return AggregationSpec(**base)


def event(
    key: int,
    pos: int,
    ts: int | None,
    after: dict[str, Any] | None,
    op: str = "insert",
    before: dict[str, Any] | None = None,
    complete: bool = True,
) -> dict[str, Any]:
    """A clean event as the processor emits it (the fields aggregation reads)."""
    return {
        "entity": "orders",
        "event_type": f"orders.{op}",
        "op": op,
        "namespace": "shop.orders",
        "key": {"id": key},
        "position": [pos],
        "ts_ms": ts,
        "format": "debezium-sql",
        "complete": complete,
        "before": before,
        "after": after,
        "update": None,
    }


def row(kind: str, amount: Any, user: str = "u1", t: Any = None, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"kind": kind, "amount": amount, "user": user, **extra}
    if t is not None:
        doc["t"] = t
    return doc
