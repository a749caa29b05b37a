"""The Faust apps of the sink roles (``streamproc.runtime.sink_app``): one app — one consumer
group — per sink, so the trigger-compatible sink and the archive of role ``s3`` never pause each
other; the reference-counted pause/resume of a consumer's partitions; readiness until the sinks
have started. Apps are built, never connected."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc.config.loader import load_pipelines
from streamproc.config.settings import Settings
from streamproc.runtime.metrics import SinkMetrics
from streamproc.runtime.sink_app import PartitionGate, SinkRole, create_sink_apps

SHIPPED = Path(__file__).resolve().parents[3] / "config" / "pipelines.yaml"


def test_the_gate_pauses_on_the_first_holder_and_resumes_after_the_last() -> None:
    calls: list[str] = []
    gate = PartitionGate(lambda: calls.append("pause"), lambda: calls.append("resume"))
    gate.hold("s3-archive")
    gate.hold("s3")  # a second runner fails while the first still holds the partitions
    gate.release("s3")  # the trigger recovered: the archive still needs them paused
    assert calls == ["pause"]
    gate.release("s3")  # released twice: no effect
    gate.hold("s3-archive")  # held twice: still one holder
    assert calls == ["pause"] and gate.holders == {"s3-archive"}
    gate.release("s3-archive")
    assert calls == ["pause", "resume"]
    gate.release("s3-archive")
    assert calls == ["pause", "resume"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        kafka_bootstrap="127.0.0.1:9",  # never contacted: apps are built, not started
        app_id="unit-ingest",
        datadir=tmp_path,
        pipelines=SHIPPED,
        schema_registry_url=None,
    )


def test_role_s3_runs_each_sink_in_its_own_app_and_consumer_group(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamproc.runtime.admin as admin
    import streamproc.runtime.apps as apps_module
    import streamproc.runtime.sink_app as sink_app

    monkeypatch.setattr(admin, "ensure_topics", lambda *a, **k: None)
    monkeypatch.setattr(apps_module, "is_embedded", lambda *a, **k: False)
    monkeypatch.setattr(sink_app, "BatchProducer", lambda *a, **k: None)  # no client threads
    spec = load_pipelines(SHIPPED)
    metrics = SinkMetrics()
    apps = create_sink_apps("s3", settings, spec, metrics, web=True)
    assert [a.conf.id for a in apps] == ["unit-sink-s3", "unit-sink-s3-archive"]
    roles = [a.streamproc for a in apps]
    assert all(isinstance(r, SinkRole) for r in roles)
    assert [[run.sink.name for run in r.runners] for r in roles] == [["s3"], ["s3-archive"]]  # type: ignore[union-attr]
    assert [a.conf.web_enabled for a in apps] == [True, False]  # one web server per process
    # a failing archive holds only its own consumer's partitions
    assert roles[0].gate is not roles[1].gate  # type: ignore[union-attr]
    # not ready before the sinks started
    assert not any(r.started for r in roles)  # type: ignore[union-attr]
    assert metrics.registry.get_sample_value("streamproc_sink_ready", {"sink": "s3-archive"}) == 0
    # metric labels: the configured entities
    entities = {s.entity for s in spec.sources}
    assert all(run.entities == entities for r in roles for run in r.runners)  # type: ignore[union-attr]
