"""Helpers of the aggregation integration tests (test_windows*.py): pipelines files, clean events
produced to explicit partitions, the brute force (the in-memory :class:`Engine` over the same
events), reading results back and keeping the latest revision per window, the worker."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Producer

from streamproc.aggregate import Engine
from streamproc.config.loader import load_pipelines
from streamproc.jsonutil import dumps, loads
from streamproc.pipeline.origin import origin_header

from .workers import WorkerProcess, read_topic

MINUTE = 60_000
TYPES = ("rental", "staffing", "fee")


def config(path: Path, *, grace: str, retain: str, sinks: list[str]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "sources": [{"entity": "charges", "topic": f"cdc.{uuid.uuid4().hex[:6]}.charges", "key": ["_id"]}],
                **({"sinks": {"warehouse": {"schema": "public"}}} if "warehouse" in sinks else {}),
                "aggregations": [
                    {
                        "name": "charges_per_minute",
                        "entity": "charges",
                        "mode": "events",
                        "time": "source",
                        "window": {"type": "tumbling", "size": "1m"},
                        "group_by": ["chargeType"],
                        "metrics": {
                            "n": {"count": "*"},
                            "amount": {"sum": "amount"},
                            "users": {"count_distinct": "userId"},
                            "top_users": {"top_k": {"field": "userId", "k": 3}},
                        },
                        "grace": grace,
                        "idle_close": "2s",
                        "retain": retain,
                        "sinks": sinks,
                    }
                ],
            }
        )
    )
    return path


def event(n: int, ts: int, partition: int) -> dict[str, Any]:
    return {
        "entity": "charges",
        "event_type": "charge.created",
        "op": "insert",
        "namespace": "test.charges",
        "key": {"_id": f"c{partition}-{n}"},
        "position": [n],
        "ts_ms": ts,
        "format": "json",
        "key_id": "k1",
        "complete": True,
        "before": None,
        "after": {
            "_id": f"c{partition}-{n}",
            "chargeType": TYPES[n % 3],
            "amount": f"{n % 7}.25",
            "userId": f"u{n % 5}",
        },
        "update": None,
    }


class Clean:
    """The clean topic: produces events to explicit partitions and remembers (partition, offset)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
        self.sent: list[tuple[dict[str, Any], int, int]] = []

    def send(self, events: list[tuple[dict[str, Any], int]], origins: list[int] | None = None) -> None:
        """``origins``: per event, the offset of a ``streamproc.origin`` header (stream
        ``raw:0``), as ingest writes it; none without."""

        def done(err: Any, msg: Any, *, ev: dict[str, Any]) -> None:
            assert err is None, err
            self.sent.append((ev, msg.partition(), msg.offset()))

        for i, (ev, partition) in enumerate(events):
            self.producer.produce(
                self.topic,
                dumps(ev),
                dumps(ev["key"]),
                partition=partition,
                headers=None if origins is None else [origin_header("raw", 0, origins[i])],
                on_delivery=functools.partial(done, ev=ev),
            )
        assert self.producer.flush(30) == 0


def brute_force(cfg: Path, sent: list[tuple[dict[str, Any], int, int]]) -> dict[tuple, dict[str, Any]]:
    """(group, window_start) → metrics, from the in-memory engine over the same events."""
    engine = Engine(load_pipelines(cfg).aggregation_specs(), upstream_partitions=2)
    results = []
    for ev, partition, offset in sorted(sent, key=lambda s: (s[1], s[2])):
        results += engine.feed(ev, (partition, offset))
    results += engine.end_of_input()
    final: dict[tuple, dict[str, Any]] = {}
    for r in results:
        if r.topic_kind == "aggregate":
            final[(dumps(r.value["group"]), r.value["window_start"])] = r.value["metrics"]
    return final


def results(bootstrap: str, topic: str, since: dict[int, int] | None = None) -> list[dict[str, Any]]:
    """The result values of ``topic`` (past the offsets ``since``, per partition)."""
    since = since or {}
    return [loads(m.value()) for m in read_topic(bootstrap, topic) if m.offset() >= since.get(m.partition(), 0)]


def latest(values: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    """(group, window_start) → the value of the highest revision; equal revisions must be equal."""
    seen: dict[tuple, dict[str, Any]] = {}
    for v in values:
        k = (dumps(v["group"]), v["window_start"], v["revision"])
        assert seen.setdefault(k, v) == v, f"two different values for revision {v['revision']}"
    out: dict[tuple, dict[str, Any]] = {}
    for (g, w, _), v in sorted(seen.items(), key=lambda kv: kv[0][2]):
        out[(g, w)] = v
    return out


def worker(bootstrap: str, work: Path, cfg: Path, prefix: str, name: str, **env: str) -> WorkerProcess:
    extra = {"STREAMPROC_PARTITIONS": "2", "STREAMPROC_AGGREGATIONS__TICK_INTERVAL": "0.3", **env}
    return WorkerProcess(
        bootstrap,
        work / f"data-{name}",
        cfg,
        topic_prefix=prefix,
        roles="aggregations",
        log_path=work / f"{name}.log",
        extra_env=extra,
    )


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
