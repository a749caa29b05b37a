"""The Grafana dashboards (helm/streamproc/files/dashboards/*.json): valid dashboard JSON with a
Prometheus datasource variable, the panels issue 12 asks for, and the PromQL scanner that
tests/integration/test_prometheus.py uses to check their expressions against a real Prometheus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.promql import is_number, operands, selectors

REPO = Path(__file__).resolve().parents[3]
DIR = REPO / "helm" / "streamproc" / "files" / "dashboards"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DIR / name).read_text())
    return data


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def exprs(dashboard: dict[str, Any]) -> str:
    return "\n".join(t["expr"] for p in panels(dashboard) for t in p["targets"])


@pytest.mark.parametrize("name", ["streamproc-operations.json", "streamproc-business.json"])
def test_dashboard_is_provisionable(name: str) -> None:
    d = load(name)
    assert d["uid"] == name.removesuffix(".json") and d["title"].startswith("streamproc")
    var = d["templating"]["list"][0]
    assert (var["name"], var["type"], var["query"]) == ("datasource", "datasource", "prometheus")
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for p in panels(d):
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"], p["title"]
        assert all(t["datasource"] == p["datasource"] and t["expr"].strip() for t in p["targets"]), p["title"]
        pos = p["gridPos"]
        assert pos["x"] + pos["w"] <= 24 and pos["h"] > 0, p["title"]
        assert "$" not in "".join(t["expr"] for t in p["targets"]), "no Grafana variables in PromQL"


def test_operations_dashboard_has_the_panels_asked_for() -> None:
    d = load("streamproc-operations.json")
    text = exprs(d)
    for needed in (
        "sum by (entity) (rate(streamproc_events_out_total",  # throughput per entity
        "sum by (topic) (streamproc_consumer_lag)",  # lag per group: ingest …
        "sum by (sink) (streamproc_sink_consumer_lag)",  # … and each sink group
        "histogram_quantile(0.5, sum by (entity, le) (rate(streamproc_end_to_end_latency_seconds_bucket",
        "histogram_quantile(0.99, sum by (entity, le) (rate(streamproc_end_to_end_latency_seconds_bucket",
        "sum by (error_class) (rate(streamproc_events_dlq_total",  # DLQ by class
        "streamproc_sink_records_total",
        "streamproc_sink_retries_total",
        "streamproc_sink_breaker_state",
        "streamproc_batch_seconds_bucket",
        "streamproc_table_recovery_remaining",
        "streamproc_table_recovery_active",
    ):
        assert needed in text, needed


def test_business_dashboard_has_freshness_and_rates_per_entity() -> None:
    text = exprs(load("streamproc-business.json"))
    assert "time() - max by (entity) (streamproc_clean_event_source_timestamp_seconds)" in text
    assert "sum by (entity, op) (rate(streamproc_events_out_total[5m]))" in text


def test_scanner_finds_selectors_and_top_level_operands() -> None:
    expr = 'sum by (sink) (lag{a="b"}) > 0 unless on (sink) (sum by (sink) (rate(w_total[5m])) > bool 1 or x)'
    assert selectors(expr) == ['lag{a="b"}', "w_total", "x"]
    assert operands(expr) == ['sum by (sink) (lag{a="b"})', "0", "sum by (sink) (rate(w_total[5m]))", "1", "x"]
    assert operands('absent(up{job="s"} == 1)') == ['up{job="s"}', "1"]
    assert operands("histogram_quantile(0.9, sum(rate(h_bucket[1m])))") == [
        "histogram_quantile(0.9, sum(rate(h_bucket[1m])))"
    ]
    assert selectors("count(max_over_time(up[1d])) by (role)") == ["up"]
    assert is_number("0.05") and is_number("1e3") and not is_number("up")
