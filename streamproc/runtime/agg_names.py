"""The names the ``aggregations`` role derives from the settings and the pipelines file: its app id
(= consumer group), its tables, their changelog topics and the repartition topics. Faust-free, so
``streamproc replay --role aggregations --reset-state`` finds exactly what the role creates."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamproc.aggregate.spec import AggregationSpec
    from streamproc.config.settings import Settings

__all__ = [
    "aggregation_app_id",
    "repartition_topic",
    "upstream_table",
    "downstream_table",
    "table_names",
    "changelog_topic",
    "aggregation_topics",
]


def aggregation_app_id(settings: Settings) -> str:
    """The aggregation role's app id and consumer group: ``<app_id without -ingest>-aggregations``."""
    return f"{settings.app_id.removesuffix('-ingest')}-aggregations"


def repartition_topic(settings: Settings, name: str) -> str:
    """``<app_id>-agg-<name>-repartition``: the deltas of one aggregation, keyed by group."""
    return f"{settings.app_id}-agg-{name}-repartition"


def upstream_table(entity: str) -> str:
    """The row-state table of the aggregations of one entity (keyed by entity key)."""
    return f"agg-up-{entity}"


def downstream_table(name: str) -> str:
    """The window-state table of one aggregation (keyed by group and window)."""
    return f"agg-{name}"


def table_names(specs: list[AggregationSpec]) -> list[str]:
    """Every table the role keeps for ``specs``: one per entity upstream, one per aggregation."""
    ups = sorted({upstream_table(a.entity) for a in specs})
    return ups + [downstream_table(a.name) for a in specs]


def changelog_topic(settings: Settings, table: str) -> str:
    """Faust's changelog topic of one of the role's tables: ``<app id>-<table>-changelog``."""
    return f"{aggregation_app_id(settings)}-{table}-changelog"


def aggregation_topics(settings: Settings, specs: list[AggregationSpec]) -> list[str]:
    """The changelog and repartition topics of ``specs`` (what a state reset deletes)."""
    return [changelog_topic(settings, t) for t in table_names(specs)] + [
        repartition_topic(settings, a.name) for a in specs
    ]
