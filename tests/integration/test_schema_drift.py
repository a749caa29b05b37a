"""Schema drift on the real broker: one ingest worker sees an orders row gain a field and change
a field's JSON type; ``streamproc_schema_changes_total{entity,kind}`` counts each once and the log
names the field (never a value). A second worker with an empty data directory recovers the schema
from the state changelog: the known field is not counted again, only a genuinely new one."""

from __future__ import annotations

import re
import uuid

import pytest

from .test_ingest import pg
from .workers import WorkerProcess, produce, unique_config, wait_for

pytestmark = pytest.mark.integration

ROW = {"id": 1, "customer_email": "Drift.Canary@Shop.example", "status": "pending", "notes": "n-secret-1"}


def changes(w: WorkerProcess, kind: str) -> float:
    return w.total("streamproc_schema_changes_total", entity="orders", kind=kind)


def test_new_fields_and_type_changes_are_counted_once_and_survive_recovery(kafka_bootstrap: str, tmp_path) -> None:
    uniq = f"it{uuid.uuid4().hex[:10]}"
    config = tmp_path / "pipelines.yaml"
    topic = unique_config(config, ("orders",), uniq)["pg.public.orders"]
    app_id, prefix = f"it-{uniq}", uniq
    first = WorkerProcess(kafka_bootstrap, tmp_path / "data1", config, app_id=app_id, topic_prefix=prefix)
    first.start()
    try:
        first.wait_ready()
        produce(
            kafka_bootstrap,
            [
                pg(topic, "c", 10, 1, after=ROW),  # the baseline
                pg(topic, "u", 20, 1, after={**ROW, "coupon": "SAVE-secret-10"}),  # new field
                pg(topic, "u", 30, 1, after={**ROW, "coupon": "SAVE-secret-10", "notes": 42}),  # type change
                pg(topic, "u", 40, 1, after={**ROW, "coupon": "X", "notes": 7}),  # nothing new
            ],
        )
        first.wait_processed(4)
        wait_for(lambda: changes(first, "type_change") >= 1, 30, message="the type change counted")
        assert (changes(first, "new_field"), changes(first, "type_change")) == (1, 1)
        log = first.log()
        assert len(re.findall(r"schema drift: orders new field 'coupon' \(string\)", log)) == 1
        assert len(re.findall(r"schema drift: orders type change 'notes' \(string→number\)", log)) == 1
        assert "secret" not in log and "Drift.Canary" not in log
    finally:
        first.stop()

    second = WorkerProcess(
        kafka_bootstrap, tmp_path / "data2", config, app_id=app_id, topic_prefix=prefix, log_path=tmp_path / "2.log"
    )
    second.start()
    try:
        second.wait_ready()
        produce(kafka_bootstrap, [pg(topic, "u", 50, 1, after={**ROW, "coupon": "Y", "notes": 8, "gift": True})])
        wait_for(lambda: changes(second, "new_field") >= 1, 60, message="the new field counted")
        assert (changes(second, "new_field"), changes(second, "type_change")) == (1, 0)
        log = second.log()
        assert "new field 'gift' (boolean)" in log and "'coupon'" not in log  # coupon was recovered
    finally:
        second.stop()
