"""helm/streamproc as real Helm sees it: every ci/ scenario passes ``helm lint`` without an error
or warning, renders with Helm's Go SDK, and every manifest validates in kubernetes-validate's
strict mode (unknown fields rejected) for the three newest Kubernetes versions it ships;
ServiceMonitor and PrometheusRule against schemas written from the prometheus-operator API
reference (crd_schemas/)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import helm_python
import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions
from packaging.version import Version

from tests.unit.deploy.helm_chart import (
    CHART,
    SCENARIOS,
    STATEFUL_ROLES,
    Manifest,
    merged,
    of_kind,
    one,
    render,
    role_name,
    scenario,
)

CRD_SCHEMAS = Path(__file__).with_name("crd_schemas")
CRD_KINDS = {
    "ServiceMonitor": "servicemonitor-monitoring-v1.json",
    "PrometheusRule": "prometheusrule-monitoring-v1.json",
}
NEWEST = sorted({".".join(v.split(".")[:2]) for v in all_versions()}, key=Version)[-3:]


@cache
def crd_validator(kind: str) -> jsonschema.protocols.Validator:
    schema = json.loads((CRD_SCHEMAS / CRD_KINDS[kind]).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def validation_errors(doc: Manifest, version: str) -> list[str]:
    """Why ``doc`` is not a valid object for Kubernetes ``version`` (empty: it is)."""
    where = f"{doc['kind']}/{doc['metadata']['name']}"
    if doc["kind"] in CRD_KINDS:
        return [
            f"{where}: {'.'.join(map(str, e.path))}: {e.message}" for e in crd_validator(doc["kind"]).iter_errors(doc)
        ]
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{where} (Kubernetes {version}): {'.'.join(map(str, exc.path))}: {exc.message}"]
    return []


def test_there_are_the_four_scenarios_and_three_kubernetes_versions() -> None:
    assert SCENARIOS == ["all-roles", "existing-secrets", "minimal", "monitoring"]
    assert len(NEWEST) == 3 and Version(NEWEST[0]) >= Version("1.30"), NEWEST


@pytest.mark.parametrize("version", NEWEST)
@pytest.mark.parametrize("name", SCENARIOS)
def test_helm_lint_reports_no_error_or_warning(name: str, version: str) -> None:
    report = helm_python.lint(CHART, scenario(name), strict=True, kube_version=f"v{version}.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


def test_helm_lint_sees_template_errors() -> None:
    """The lint gate can fail: a role value of the wrong type breaks the schema it lints with."""
    report = helm_python.lint(CHART, merged(scenario("minimal"), {"roles": {"ingest": {"replicas": "many"}}}))
    assert report["errors"] or any(m["severity"] == 3 for m in report["messages"]), report


@pytest.mark.parametrize("version", NEWEST)
@pytest.mark.parametrize("name", SCENARIOS)
def test_every_manifest_validates_strictly(name: str, version: str) -> None:
    docs = render(scenario(name))
    assert docs
    errors = [e for doc in docs for e in validation_errors(doc, version)]
    assert errors == []


def test_strict_validation_rejects_an_unknown_field() -> None:
    """The validator is in strict mode and the hand-written CRD schemas are strict too."""
    docs = render(scenario("monitoring"))
    sts = json.loads(json.dumps(one(docs, "StatefulSet", role_name("ingest"))))
    sts["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    assert validation_errors(sts, NEWEST[-1])
    monitor = json.loads(json.dumps(of_kind(docs, "ServiceMonitor")[0]))
    monitor["spec"]["endpoints"][0]["prot"] = "metrics"
    assert validation_errors(monitor, NEWEST[-1])
    rule = json.loads(json.dumps(of_kind(docs, "PrometheusRule")[0]))
    rule["spec"]["groups"][0]["rules"][0]["for"] = "ten minutes"
    assert validation_errors(rule, NEWEST[-1])


def kinds(docs: list[Manifest]) -> dict[str, int]:
    out: dict[str, int] = {}
    for doc in docs:
        out[doc["kind"]] = out.get(doc["kind"], 0) + 1
    return out


def test_minimal_scenario_is_the_ingest_statefulset_and_its_companions() -> None:
    assert kinds(render(scenario("minimal"))) == {
        "ConfigMap": 1,
        "PodDisruptionBudget": 1,
        "Service": 1,
        "ServiceAccount": 1,
        "StatefulSet": 1,
    }


def test_all_roles_scenario_renders_one_workload_and_service_per_role() -> None:
    docs = render(scenario("all-roles"))
    found = kinds(docs)
    assert found["StatefulSet"] == 2 and found["Deployment"] == 4 and found["Service"] == 6
    assert found["Job"] == 1 and found["NetworkPolicy"] == 1
    assert {d["metadata"]["name"] for d in of_kind(docs, "StatefulSet")} == {role_name(r) for r in STATEFUL_ROLES}


def test_monitoring_scenario_ships_the_alert_file_and_the_dashboards_unchanged() -> None:
    docs = render(scenario("monitoring"))
    files = CHART / "files"
    rule = of_kind(docs, "PrometheusRule")
    assert len(rule) == 1
    assert rule[0]["spec"]["groups"] == yaml.safe_load((files / "prometheus" / "alerts.yml").read_text())["groups"]
    boards = [d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-dashboards")]
    assert len(boards) == 1 and boards[0]["metadata"]["labels"]["grafana_dashboard"] == "1"
    expected = {p.name: json.loads(p.read_text()) for p in (files / "dashboards").glob("*.json")}
    assert expected and {k: json.loads(v) for k, v in boards[0]["data"].items()} == expected


def test_service_monitor_selects_every_metrics_service_and_labels_job_and_role() -> None:
    values = merged(scenario("monitoring"), {"roles": {r: {"enabled": True} for r in ("aggregations", "eventbridge")}})
    docs = render(values)
    monitor = of_kind(docs, "ServiceMonitor")[0]["spec"]
    selected = [
        s
        for s in of_kind(docs, "Service")
        if all(s["metadata"]["labels"].get(k) == v for k, v in monitor["selector"]["matchLabels"].items())
    ]
    assert sorted(s["metadata"]["labels"]["app.kubernetes.io/component"] for s in selected) == sorted(
        ["ingest", "aggregations", "s3", "eventbridge"]
    )
    job, role = monitor["endpoints"][0]["relabelings"]  # job="streamproc", role=<role>, whatever the release
    assert job == {"targetLabel": "job", "replacement": "streamproc", "action": "replace"}
    assert role["targetLabel"] == "role"
    assert role["sourceLabels"] == ["__meta_kubernetes_service_label_app_kubernetes_io_component"]
    assert monitor["endpoints"][0]["port"] == "metrics" and monitor["endpoints"][0]["path"] == "/metrics"


def test_the_readme_install_values_render_and_validate() -> None:
    """The values file of the README's "Install with existing secrets" renders as documented."""
    readme = (CHART.parents[1] / "README.md").read_text()
    block = readme.split("cat > streamproc-values.yaml <<'YAML'\n", 1)[1].split("\nYAML\n", 1)[0]
    docs = render(yaml.safe_load(block), release="streamproc")
    assert [e for doc in docs for e in validation_errors(doc, NEWEST[-1])] == []
    names = {d["metadata"]["name"] for d in docs}
    assert {"streamproc-ingest", "streamproc-s3", "streamproc-opensearch", "streamproc-warehouse"} <= names
    # the names the README's kubectl commands use
    sts = one(docs, "StatefulSet", "streamproc-ingest")
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"  # PVC data-streamproc-ingest-0
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"]["app.kubernetes.io/component"] == "ingest"
