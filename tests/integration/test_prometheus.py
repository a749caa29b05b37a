"""A real Prometheus (Debian's binary, a free port, 1 s scrapes, its own storage directory, the
canonical alert rules loaded) scrapes a running ingest worker and an OpenSearch sink worker
while a change stream flows, with duplicates, tombstones, poison on a source and on a clean topic,
and an outage of the OpenSearch target. Then, through the HTTP API, every PromQL expression of
the alert rules and of the Grafana dashboards must parse, every metric selector in it must
return series and every operand of its top-level comparisons must return data; so a renamed or
relabelled metric breaks the build. Every rule must have evaluated without error.

External series: kube-state-metrics does not run here, so the expressions over
:data:`EXTERNAL_METRICS` are only checked to parse (named in :data:`EXTERNAL_ALERTS`)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest
import yaml

from streamproc.dev.opensearch_fake import OpenSearchFake
from streamproc.dev.services import endpoint_env
from tests.integration.promql import is_number, operands, selectors
from tests.integration.workers import REPO, WorkerProcess, generated_stream, produce, wait_for
from tests.services.prometheus import PrometheusServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

RULES = REPO / "helm" / "streamproc" / "files" / "prometheus" / "alerts.yml"
DASHBOARDS = sorted((REPO / "helm" / "streamproc" / "files" / "dashboards").glob("*.json"))

#: Series from outside streamproc (kube-state-metrics), and the alerts over them.
EXTERNAL_METRICS = {"kube_pod_container_status_restarts_total"}
EXTERNAL_ALERTS = {"StreamprocPodRestarts"}
ENTITIES = ("reservations", "users")
OPEN_BREAKER = 'streamproc_sink_breaker_state{job="streamproc", role="opensearch", sink="opensearch"}'


Monitored = tuple[PrometheusServer, dict[str, WorkerProcess]]


def rule_expressions() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {f"alert {r['alert']}": r["expr"] for g in groups for r in g["rules"]}


def panel_targets(panels: list[dict]) -> Iterator[tuple[str, str]]:
    for panel in panels:
        yield from panel_targets(panel.get("panels", []))
        for n, target in enumerate(panel.get("targets", [])):
            yield f"{panel['title']} [{n}]", target["expr"]


def dashboard_expressions() -> dict[str, str]:
    out = {}
    for path in DASHBOARDS:
        for where, expr in panel_targets(json.loads(path.read_text())["panels"]):
            out[f"{path.name}: {where}"] = expr
    return out


def metric_name(selector: str) -> str:
    return selector.split("{", 1)[0]


@pytest.fixture(scope="module")
def monitored(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    """An ingest and an OpenSearch sink worker with traffic of every kind, scraped by Prometheus
    (one stack for the module's tests: they only read)."""
    tmp_path = tmp_path_factory.mktemp("prometheus-it")
    config = tmp_path / "pipelines.yaml"
    topics, records = generated_stream(config, ENTITIES, documents=40, seed=5)
    cfg = yaml.safe_load(config.read_text())
    cfg["sinks"] = {"opensearch": {"index_template": "{database}_{collection}"}}
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    opensearch = OpenSearchFake().start()
    app_id, prefix = f"it-{uuid.uuid4().hex[:8]}", f"prom{uuid.uuid4().hex[:6]}"
    sink_env = {
        **endpoint_env(None, opensearch.url),
        "STREAMPROC_SINK__BATCH_SECONDS": "0.2",
        "STREAMPROC_SINK__RETRY_MAX": "1",
        "STREAMPROC_SINK__BREAKER_FAILURES": "2",
        "STREAMPROC_SINK__BREAKER_RESET": "2",
    }
    workers = {
        role: WorkerProcess(
            kafka_bootstrap,
            tmp_path / f"data-{role}",
            config,
            app_id=app_id,
            topic_prefix=prefix,
            roles=role,
            log_path=tmp_path / f"{role}.log",
            extra_env=sink_env if role == "opensearch" else {},
        )
        for role in ("ingest", "opensearch")
    }
    prometheus = PrometheusServer(
        tmp_path / "prometheus",
        {"streamproc": [(f"127.0.0.1:{w.port}", {"role": role}) for role, w in workers.items()]},
        rule_files=[RULES],
    )
    try:
        for w in workers.values():
            w.start()
        prometheus.start()
        for w in workers.values():
            w.wait_ready()
        ingest, sink = workers["ingest"], workers["opensearch"]
        source = next(iter(topics.values()))
        half = len(records) // 2
        produce(kafka_bootstrap, records[:half])
        produce(kafka_bootstrap, records[:20])  # again: dropped as duplicates
        produce(kafka_bootstrap, [(source, b'{"id": 1}', None), (source, b'{"id": 2}', b"\xff not a change")])
        produce(kafka_bootstrap, [(f"{prefix}.events.{ENTITIES[0]}", b'{"_id":"x"}', b"not a clean event")])
        wait_for(lambda: ingest.total("streamproc_events_dlq_total") > 0, 120, message="a source record in the DLQ")
        wait_for(lambda: sink.total("streamproc_sink_dlq_total") > 0, 120, message="a clean-topic record in the DLQ")
        wait_for(lambda: sink.total("streamproc_sink_records_total") > 0, 120, message="the sink writing")
        opensearch.stop()  # an outage: the sink retries and opens its breaker
        try:
            produce(kafka_bootstrap, records[half:])
            wait_for(lambda: sink.total("streamproc_sink_retries_total") > 0, 120, message="the sink retrying")
            wait_for(
                lambda: bool(series(prometheus, f"max_over_time({OPEN_BREAKER}[10m]) == 2")),
                120,
                interval=1.0,
                message="Prometheus to see the sink's breaker open",
            )
        finally:
            opensearch.start()
        yield prometheus, workers
    finally:
        prometheus.stop()
        for w in workers.values():
            w.stop()
        opensearch.stop()


def series(prometheus: PrometheusServer, selector: str) -> list[dict]:
    body = prometheus.query(selector)
    assert body["status"] == "success", f"{selector}: {body.get('error')}"
    result: list[dict] = body["data"]["result"]
    return result


def test_every_rule_and_dashboard_expression_returns_data(monitored: Monitored) -> None:
    prometheus, workers = monitored
    exprs = {**rule_expressions(), **dashboard_expressions()}
    assert len(DASHBOARDS) == 2 and len(exprs) > 40
    # Every metric of a streamproc expression has series once the traffic above has been scraped.
    needed = {
        metric_name(s) for expr in exprs.values() for s in selectors(expr) if metric_name(s) not in EXTERNAL_METRICS
    }
    wait_for(
        lambda: all(series(prometheus, name) for name in needed),
        120,
        interval=1.0,
        message=f"series of {sorted(n for n in needed if not series(prometheus, n))}",
    )
    problems = []
    for where, expr in exprs.items():
        body = prometheus.query(expr)
        if body["status"] != "success":  # a parse error (or an evaluation error)
            problems.append(f"{where}: {body.get('errorType')}: {body.get('error')}")
            continue
        found = selectors(expr)
        assert found, f"{where}: no metric selector found in {expr!r}"
        external = {metric_name(s) for s in found} & EXTERNAL_METRICS
        if external:
            assert where.removeprefix("alert ") in EXTERNAL_ALERTS, f"{where}: uses external {external}"
            continue
        for sel in found:
            if not series(prometheus, sel):
                problems.append(f"{where}: no series for {sel}")
        for operand in operands(expr):
            if not is_number(operand) and not series(prometheus, operand):
                problems.append(f"{where}: no data for {operand!r}")
    assert not problems, "\n".join(problems)
    assert {w.removeprefix("alert ") for w in rule_expressions()} >= EXTERNAL_ALERTS


def test_prometheus_loaded_every_rule_and_evaluates_it_without_error(monitored: Monitored) -> None:
    prometheus, _ = monitored
    wanted = {name.removeprefix("alert ") for name in rule_expressions()}

    def rules() -> list[dict]:
        body = prometheus.api("rules")
        assert body["status"] == "success", body
        return [r for g in body["data"]["groups"] for r in g["rules"]]

    def all_evaluated() -> bool:
        return all(r["health"] != "unknown" for r in rules())

    wait_for(all_evaluated, 60, interval=1.0, message="every rule evaluated")
    loaded = rules()
    assert {r["name"] for r in loaded} == wanted
    bad = [f"{r['name']}: {r['health']} {r.get('lastError', '')}" for r in loaded if r["health"] != "ok"]
    assert not bad, bad
    # the outage was seen: the breaker open, then closed again once the target is back
    wait_for(lambda: bool(series(prometheus, f"{OPEN_BREAKER} == 0")), 120, message="the breaker closed again")


def test_a_renamed_metric_is_caught(monitored: Monitored) -> None:
    """The checks above can fail: a misspelt metric in an otherwise valid expression has no
    series, and a syntax error is reported by the API."""
    prometheus, _ = monitored
    expr = rule_expressions()["alert StreamprocIngestLagHigh"]
    renamed = re.sub(r"streamproc_consumer_lag\b", "streamproc_consumer_lags", expr)
    assert prometheus.query(renamed)["status"] == "success"
    assert [s for s in selectors(renamed) if not series(prometheus, s)] == ["streamproc_consumer_lags"]
    broken = prometheus.query("sum by (topic (streamproc_consumer_lag)")
    assert broken["status"] == "error" and broken["errorType"] == "bad_data"
