"""Validation severity end to end: a real ingest worker on the real (embedded) broker emits an
event that fails a ``warn`` rule with the ``validation_warnings`` header and value field and
counts it in ``streamproc_validation_warnings_total{entity,rule}``; an ``error`` rule still
sends its event to the DLQ."""

from __future__ import annotations

import json
import textwrap
import uuid

import pytest

from .workers import WorkerProcess, metric_total, produce, read_topic, wait_for

pytestmark = pytest.mark.integration


def change(topic: str, ord_: int, _id: str, after: dict) -> tuple:
    value = {
        "op": "c",
        "ts_ms": 1_767_225_600_005,
        "after": json.dumps({"_id": _id, **after}),
        "source": {
            "connector": "mongodb",
            "ts_ms": 1_767_225_600_000,
            "db": "app",
            "collection": "members",
            "ord": ord_,
        },
    }
    return (topic, json.dumps({"id": json.dumps(_id)}).encode(), json.dumps(value).encode())


def test_warn_rules_emit_and_count_error_rules_still_dead_letter(kafka_bootstrap: str, tmp_path) -> None:
    topic = f"sev{uuid.uuid4().hex[:8]}.app.members"
    config = tmp_path / "pipelines.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            version: 1
            sources:
              - entity: members
                topic: {topic}
                namespace: app.members
                key: [_id]
                on_invalid: emit
                validate:
                  - {{field: plan, type: string, enum: [free, pro], name: plan-known}}
                  - {{field: age, type: integer, min: 0}}
                  - {{field: tenant, required: true, type: string, severity: error}}
            """
        )
    )
    records = [
        change(topic, 1, "m1", {"plan": "free", "age": 3, "tenant": "t"}),  # clean
        change(topic, 2, "m2", {"plan": "platinum-secret", "age": -1, "tenant": "t"}),  # two warnings
        change(topic, 3, "m3", {"plan": "enterprise", "tenant": "t"}),  # one warning
        change(topic, 4, "m4", {"plan": "free"}),  # the error rule: DLQ
    ]
    worker = WorkerProcess(kafka_bootstrap, tmp_path / "data", config)
    worker.start()
    try:
        worker.wait_ready()
        produce(kafka_bootstrap, records)
        worker.wait_processed(len(records), timeout=120)
        wait_for(lambda: worker.total("streamproc_events_dlq_total") >= 1, 60, message="the DLQ record counted")
        text = worker.metrics()
        samples = worker.samples()
    finally:
        worker.stop()

    def total(name: str, **labels: str) -> float:
        return metric_total(samples, name, **labels)

    assert total("streamproc_validation_warnings_total", entity="members", rule="plan-known") == 2
    assert total("streamproc_validation_warnings_total", entity="members", rule="age") == 1
    assert total("streamproc_events_warned_total", entity="members") == 2
    assert total("streamproc_events_out_total", entity="members") == 3
    assert total("streamproc_events_dlq_total", error_class="invalid") == 1

    clean = {
        json.loads(m.key())["_id"]: m for m in read_topic(kafka_bootstrap, f"{worker.topic_prefix}.events.members")
    }
    assert set(clean) == {"m1", "m2", "m3"}
    for _id, want in {"m1": None, "m2": ["plan-known", "age"], "m3": ["plan-known"]}.items():
        headers = dict(clean[_id].headers() or [])
        value = json.loads(clean[_id].value())
        if want is None:
            assert "validation_warnings" not in headers and "validation_warnings" not in value
        else:
            assert headers["validation_warnings"].decode() == ",".join(want)
            assert value["validation_warnings"] == want
    dlq = read_topic(kafka_bootstrap, f"{worker.topic_prefix}.dlq")
    assert len(dlq) == 1 and dlq[0].value() == records[3][2]
    assert "platinum-secret" not in text  # rule names in labels, never values
