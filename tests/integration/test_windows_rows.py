"""Rows mode through the aggregation worker: the current rows of an entity per day and group,
while updates move rows between groups and days and deletes retract them; the results read back
from Kafka equal the in-memory engine over the same changes, and no revision goes down."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamproc.aggregate import Engine
from streamproc.config.loader import load_pipelines
from streamproc.jsonutil import dumps
from streamproc.runtime.admin import ensure_topics

from .windows import TYPES, Clean, latest, results, worker
from .workers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def rows_config(path: Path) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "sources": [{"entity": "charges", "topic": f"cdc.{uuid.uuid4().hex[:6]}.charges", "key": ["_id"]}],
                "aggregations": [
                    {
                        "name": "charges_per_day",
                        "entity": "charges",
                        "mode": "rows",
                        "time": "day",
                        "window": {"type": "tumbling", "size": "1d"},
                        "group_by": ["chargeType"],
                        "metrics": {
                            "n": {"count": "*"},
                            "amount": {"sum": "amount"},
                            "users": {"count_distinct": "userId"},
                        },
                        "emit": "updates",
                        "every": "200ms",
                        "retain": "30d",
                    }
                ],
            }
        )
    )
    return path


def test_rows_mode_retracts_updates_and_deletes_across_groups_and_windows(kafka_bootstrap: str, tmp_path: Path) -> None:
    cfg = rows_config(tmp_path / "pipelines.yaml")
    prefix = f"it{uuid.uuid4().hex[:6]}"
    topic = f"{prefix}.events.charges"
    ensure_topics(kafka_bootstrap, [topic], 2, 1)
    clean = Clean(kafka_bootstrap, topic)
    rows: dict[int, dict[str, Any]] = {}
    changes: list[tuple[dict[str, Any], int]] = []
    for n in range(120):  # inserts, then updates that move rows between groups and days, then deletes
        rows[n] = {
            "_id": f"r{n}",
            "chargeType": TYPES[n % 3],
            "amount": n % 9,
            "userId": f"u{n % 7}",
            "day": "2026-03-0" + str(1 + n % 4),
        }
        changes.append((row_event(n, 1, "insert", None, rows[n]), n % 2))
    for n in range(0, 120, 3):
        before, after = rows[n], {**rows[n], "chargeType": TYPES[(n + 1) % 3], "day": "2026-03-09", "amount": 100}
        rows[n] = after
        changes.append((row_event(n, 2, "update", before, after), n % 2))
    for n in range(1, 120, 5):
        changes.append((row_event(n, 3, "delete", rows.pop(n), None), n % 2))
    clean.send(changes)
    engine = Engine(load_pipelines(cfg).aggregation_specs(), upstream_partitions=2)
    expected: dict[tuple, dict[str, Any]] = {}
    for ev, partition, offset in sorted(clean.sent, key=lambda s: (s[1], s[2])):
        for r in engine.feed(ev, (partition, offset)):
            expected[(dumps(r.value["group"]), r.value["window_start"])] = r.value["metrics"]
    assert len(expected) >= 13  # 3 types x 4 days, and the day the updates moved rows to
    w = worker(kafka_bootstrap, tmp_path, cfg, prefix, "rows").start()
    out = f"{prefix}.aggregates.charges_per_day"
    try:
        w.wait_ready()
        wait_for(
            lambda: {k: v["metrics"] for k, v in latest(results(kafka_bootstrap, out)).items()} == expected,
            120,
            interval=1.0,
            message="the current rows' aggregates",
        )
    finally:
        w.stop()
    revisions: dict[tuple, int] = {}
    for v in results(kafka_bootstrap, out):  # one key's results are on one partition, in order
        k = (dumps(v["group"]), v["window_start"])
        assert v["revision"] >= revisions.get(k, 0), "a revision went down"
        revisions[k] = v["revision"]


def row_event(n: int, pos: int, op: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "entity": "charges",
        "event_type": f"charge.{op}",
        "op": op,
        "namespace": "test.charges",
        "key": {"_id": f"r{n}"},
        "position": [pos],
        "ts_ms": 1_770_000_000_000 + pos,
        "format": "json",
        "key_id": "k1",
        "complete": True,
        "before": before,
        "after": after,
        "update": None,
    }
