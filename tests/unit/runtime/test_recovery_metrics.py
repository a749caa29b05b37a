"""streamproc_table_recovery_active / _remaining follow Faust's recovery at each scrape."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from prometheus_client import generate_latest

from streamproc.runtime.metrics import Metrics
from streamproc.runtime.web import watch_recovery
from tests.integration.workers import parse_metrics


class FakeRecovery:
    def __init__(self) -> None:
        self.done = False
        self.completed = SimpleNamespace(is_set=lambda: self.done)
        self.active, self.standby = 0, 0

    def active_remaining_total(self) -> int:
        return self.active

    def standby_remaining_total(self) -> int:
        return self.standby


def scrape(metrics: Metrics) -> dict[str, Any]:
    samples = parse_metrics(generate_latest(metrics.registry).decode())
    return {
        name: {dict(labels).get("kind", ""): v for labels, v in samples[name].items()}
        for name in ("streamproc_table_recovery_active", "streamproc_table_recovery_remaining")
    }


def test_the_gauges_read_the_recovery_state_when_scraped() -> None:
    recovery = FakeRecovery()
    app = SimpleNamespace(conf=SimpleNamespace(id="app-1"), in_recovery=True, tables=SimpleNamespace(recovery=recovery))
    metrics = Metrics()
    watch_recovery(cast(Any, app), metrics)
    recovery.active, recovery.standby = 120, 7
    got = scrape(metrics)
    assert got["streamproc_table_recovery_active"] == {"": 1.0}
    assert got["streamproc_table_recovery_remaining"] == {"active": 120.0, "standby": 7.0}

    app.in_recovery, recovery.active = False, 0  # recovered, but completion not signalled yet
    assert scrape(metrics)["streamproc_table_recovery_active"] == {"": 1.0}
    recovery.done = True
    got = scrape(metrics)
    assert got["streamproc_table_recovery_active"] == {"": 0.0}
    assert got["streamproc_table_recovery_remaining"] == {"active": 0.0, "standby": 7.0}
