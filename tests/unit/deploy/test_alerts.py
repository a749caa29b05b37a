"""The alert rules (helm/streamproc/files/prometheus/alerts.yml) through Debian's promtool:
``check rules``, and ``test rules`` with tests/unit/deploy/alerts_test.yml, which must hold a
series that fires each alert and an evaluation where it does not; removing any one alert from
the rule file must make those tests fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.services.prometheus import promtool

REPO = Path(__file__).resolve().parents[3]
RULES = REPO / "helm" / "streamproc" / "files" / "prometheus" / "alerts.yml"
TESTS = Path(__file__).with_name("alerts_test.yml")


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def evaluations() -> list[dict[str, Any]]:
    return [case for test in yaml.safe_load(TESTS.read_text())["tests"] for case in test["alert_rule_test"]]


def test_promtool_check_rules_accepts_the_rule_file() -> None:
    res = promtool("check", "rules", str(RULES))
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in res.stdout


def test_promtool_unit_tests_pass() -> None:
    res = promtool("test", "rules", str(TESTS))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


def test_the_unit_tests_use_the_canonical_rule_file() -> None:
    files = yaml.safe_load(TESTS.read_text())["rule_files"]
    assert [(TESTS.parent / f).resolve() for f in files] == [RULES.resolve()]


@pytest.mark.parametrize("name", [a["alert"] for a in alerts()])
def test_every_alert_has_a_firing_and_a_quiet_evaluation(name: str) -> None:
    cases = [c for c in evaluations() if c["alertname"] == name]
    assert any(c["exp_alerts"] for c in cases), f"{name}: no series that fires it"
    assert any(not c["exp_alerts"] for c in cases), f"{name}: no evaluation where it stays quiet"


def test_every_alert_is_labelled_and_annotated() -> None:
    names = [a["alert"] for a in alerts()]
    assert len(names) == len(set(names))
    for rule in alerts():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]


def test_the_required_alerts_exist() -> None:
    """§2 of issue 12, one alert each (the group of each lag alert is in its labels)."""
    exprs = {a["alert"]: " ".join(a["expr"].split()) for a in alerts()}
    assert "absent(up{" in exprs["StreamprocIngestAbsent"]
    assert "kube_pod_container_status_restarts_total" in exprs["StreamprocPodRestarts"]
    assert "streamproc_events_warned_total" in exprs["StreamprocMalformedShareHigh"]
    assert exprs["StreamprocMalformedShareHigh"].endswith("> 0.05")
    assert exprs["StreamprocDlqRecordsLastHour"].endswith("[1h])) > 10")
    assert "sum by (error_class)" in exprs["StreamprocDlqRate"]
    for group in ("Ingest", "Sink"):
        for kind in ("LagHigh", "LagGrowing", "Stalled"):
            assert f"Streamproc{group}{kind}" in exprs
    for name in ("StreamprocSinkRetrying", "StreamprocSinkBreakerOpen", "StreamprocLatencyP99High"):
        assert name in exprs
    assert {a["alert"]: a.get("for") for a in alerts()}["StreamprocMalformedShareHigh"] == "5m"


def test_removing_any_alert_makes_the_unit_tests_fail(tmp_path: Path) -> None:
    """The unit tests can fail: without an alert, its firing expectation is not met."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    tests = yaml.safe_load(TESTS.read_text())
    for name in [a["alert"] for a in alerts()]:
        pruned = [{**g, "rules": [r for r in g["rules"] if r.get("alert") != name]} for g in groups]
        (tmp_path / "alerts.yml").write_text(yaml.safe_dump({"groups": pruned}, sort_keys=False))
        (tmp_path / "alerts_test.yml").write_text(yaml.safe_dump({**tests, "rule_files": ["alerts.yml"]}))
        res = promtool("test", "rules", str(tmp_path / "alerts_test.yml"))
        assert res.returncode != 0, f"the unit tests pass without {name}"
        assert f"alertname: {name}," in res.stdout + res.stderr, name
