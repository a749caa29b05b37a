"""The compiled form of one ``aggregations:`` entry (built by ``config/aggregations.py``).

Every duration is in milliseconds, every field path a tuple of segments (``"*"`` matches any
key; arrays are crossed implicitly, as in the rest of the pipelines file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

__all__ = [
    "DAY_MS",
    "DEFAULT_RETAIN_MS",
    "DEFAULT_EVERY_MS",
    "METRIC_KINDS",
    "NUMERIC_KINDS",
    "Path",
    "WindowSpec",
    "MetricSpec",
    "WhereSpec",
    "AggregationSpec",
]

DAY_MS = 86_400_000
DEFAULT_RETAIN_MS = 7 * DAY_MS
DEFAULT_EVERY_MS = 1_000
METRIC_KINDS = ("count", "sum", "avg", "min", "max", "count_distinct", "top_k")
NUMERIC_KINDS = frozenset({"sum", "avg", "min", "max"})

Path = tuple[str, ...]
"""A field path as segments: ``items.sku`` → ``("items", "sku")``."""


@dataclass(frozen=True)
class WindowSpec:
    """``tumbling`` {size}, ``hopping`` {size, step} or ``session`` {gap}, in milliseconds.

    Sizes of whole days are counted in local calendar days of the aggregation's timezone (a
    Europe/Berlin day across a DST change lasts 23 or 25 hours; windows of whole weeks start on
    Mondays); shorter windows start at each local midnight, every ``step`` (``size`` for
    tumbling), and a tumbling window ends at the next local midnight at the latest.
    """

    type: str
    size_ms: int = 0
    step_ms: int = 0
    gap_ms: int = 0


@dataclass(frozen=True)
class MetricSpec:
    """One output metric: ``kind`` of :data:`METRIC_KINDS` over ``field`` (``None``: ``count "*"``).

    ``top_k`` keeps the ``k`` values of ``field`` with the greatest total ``weight`` (a path; each
    element counts 1 without it); when both paths cross the same array, a value is paired with
    the weight of its own element.
    """

    name: str
    kind: str
    field: Path | None = None
    k: int = 0
    weight: Path | None = None


@dataclass(frozen=True)
class WhereSpec:
    """Which events count: ops kept (``None``: all) and a field in / not in a list of values."""

    ops: frozenset[str] | None = None
    field: Path | None = None
    in_: tuple[Any, ...] | None = None
    not_in: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class AggregationSpec:
    """One aggregation. ``time`` is ``None`` for the source change time (``ts_ms``), else a path.

    ``mode`` ``events``: each event passing ``where`` is one input at its event time; ``rows``:
    the current rows of the entity, bucketed by ``time`` (required), always ``emit`` ``updates``.
    """

    name: str
    entity: str
    mode: str = "events"
    time: Path | None = None
    window: WindowSpec = field(default_factory=lambda: WindowSpec("tumbling", size_ms=3_600_000))
    timezone: str = "UTC"
    group_by: tuple[Path, ...] = ()
    where: WhereSpec = field(default_factory=WhereSpec)
    metrics: tuple[MetricSpec, ...] = ()
    grace_ms: int = 0
    idle_close_ms: int = 60_000
    emit: str = "final"
    every_ms: int = DEFAULT_EVERY_MS
    retain_ms: int = DEFAULT_RETAIN_MS
    sinks: tuple[str, ...] = ()

    @cached_property
    def group_names(self) -> tuple[str, ...]:
        """The group's field names as written (``customer.id``), the keys of a result's ``group``."""
        return tuple(".".join(p) for p in self.group_by)

    @property
    def output_topic_suffix(self) -> str:
        """``aggregates.<name>``: the output topic is ``<prefix>.aggregates.<name>``."""
        return f"aggregates.{self.name}"
