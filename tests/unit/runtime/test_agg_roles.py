"""Role ``aggregations``: when it runs (``runtime/roles.py``), the names it derives (settings),
and what its aggregate sinks are built from (``runtime/agg_sinks.py``)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from streamproc.config.loader import parse_pipelines
from streamproc.config.settings import Settings, WarehouseSettings
from streamproc.errors import ConfigError
from streamproc.runtime.agg_names import aggregation_app_id
from streamproc.runtime.agg_sinks import aggregate_table, build_aggregate_sinks
from streamproc.runtime.roles import aggregations_missing, configured_roles
from streamproc.sinks.warehouse.aggregates import AggregateWarehouseSink

BASE = """
version: 1
sources:
  - {entity: orders, topic: cdc.shop.orders, key: [_id]}
"""
AGG = """
sinks:
  warehouse: {schema: bi}
aggregations:
  - name: per_minute
    entity: orders
    window: {type: tumbling, size: 1m}
    group_by: [status]
    metrics: {n: {count: "*"}, total: {sum: amount}}
    sinks: [warehouse]
"""


def test_the_role_runs_only_with_aggregations_and_the_endpoints_of_their_sinks() -> None:
    plain, with_aggs = parse_pipelines(BASE, "p.yaml"), parse_pipelines(BASE + AGG, "p.yaml")
    settings = Settings(kafka_bootstrap="127.0.0.1:9")
    assert aggregations_missing(plain, settings) == "no 'aggregations:' list in the pipelines file"
    assert "STREAMPROC_WAREHOUSE__DSN" in (aggregations_missing(with_aggs, settings) or "")
    with_dsn = settings.model_copy(update={"warehouse": WarehouseSettings(dsn=SecretStr("duckdb://:memory:"))})
    assert aggregations_missing(with_aggs, with_dsn) is None
    assert configured_roles(["ingest", "aggregations"], plain, settings, explicit=False) == ["ingest"]
    assert configured_roles(["aggregations"], with_aggs, with_dsn, explicit=True) == ["aggregations"]
    with pytest.raises(ConfigError, match="role 'aggregations' cannot run: no 'aggregations:'"):
        configured_roles(["aggregations"], plain, settings, explicit=True)


def test_derived_names_and_the_aggregate_sinks() -> None:
    settings = Settings(
        kafka_bootstrap="127.0.0.1:9",
        app_id="shop-ingest",
        topic_prefix="shop",
        warehouse=WarehouseSettings(dsn=SecretStr("duckdb://:memory:")),
    )
    assert aggregation_app_id(settings) == "shop-aggregations"
    assert settings.aggregates_topic("per_minute") == "shop.aggregates.per_minute"
    assert settings.aggregates_late_topic == "shop.aggregates.late"
    spec = parse_pipelines(BASE + AGG, "p.yaml")
    ((sink, aggs),) = build_aggregate_sinks(settings, spec)
    assert isinstance(sink, AggregateWarehouseSink) and [a.name for a in aggs] == ["per_minute"]
    table = aggregate_table(aggs[0])
    assert table.entity == "agg_per_minute" and table.group_by == ("status",)
    assert table.metrics == (("n", "count"), ("total", "sum"))
    assert [t.display for t in sink.new_planner().configured_tables()] == ["bi.agg_per_minute"]
