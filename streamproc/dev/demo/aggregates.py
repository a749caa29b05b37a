"""The demo's aggregate table: a few results of ``<prefix>.aggregates.<name>`` (finals first) and
the warehouse rows they became (``agg_<name>`` in the demo's DuckDB file), read back from Kafka
and from the database after the worker stopped — counted at the targets, not from metrics.

Result values hold no personal data: group values are configured fields after redaction and
metrics are numbers (``top_k`` lists configured fields' values, already redacted by ingest)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from streamproc.dev.demo.metrics import Metrics, metric_total
from streamproc.jsonutil import dumps_str, loads

__all__ = ["finals_seen", "final_wait_seconds", "read_results", "pick", "warehouse_rows", "report_aggregates"]

Say = Callable[[str], None]


def final_wait_seconds(specs: Sequence[Any]) -> float:
    """How long the demo waits for a first final: the longest ``grace + idle_close`` of an
    ``emit: final`` aggregation's window past its end, plus 30 s (the demo's events are old, so
    idle closing closes their windows once the partitions are quiet)."""
    finals = [s.idle_close_ms / 1000 for s in specs if s.emit == "final"]
    return max(finals) + 30 if finals else 0.0


def finals_seen(metrics: Metrics) -> int:
    """Final results the worker emitted so far."""
    return metric_total(metrics, "streamproc_aggregation_results", kind="final")


def read_results(bootstrap: str, topics: Sequence[str], timeout: float = 20.0) -> list[dict[str, Any]]:
    """Every result value on ``topics``, up to their current ends."""
    import time

    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"demo-{uuid.uuid4().hex}", "enable.auto.commit": False})
    out: list[dict[str, Any]] = []
    try:
        pending: dict[tuple[str, int], int] = {}
        for topic in topics:
            md = c.list_topics(topic, timeout=10).topics.get(topic)
            for p in md.partitions if md is not None and md.error is None else {}:
                _low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if high > 0:
                    pending[(topic, p)] = high
        c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in pending])
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for m in c.consume(500, 0.2):
                value, offset = m.value(), m.offset()
                if m.error() is not None or value is None or offset is None:
                    continue
                out.append(loads(value))
                tp = (str(m.topic()), int(m.partition() or 0))
                if tp in pending and offset >= pending[tp] - 1:
                    del pending[tp]
    finally:
        c.close()
    return out


def pick(results: list[dict[str, Any]], n: int = 5) -> list[dict[str, Any]]:
    """The latest revision per (aggregation, group, window), finals first, at most ``n``."""
    latest: dict[str, dict[str, Any]] = {}
    for v in results:
        k = dumps_str([v.get("aggregation"), v.get("group"), v.get("window_start")])
        if k not in latest or (v.get("revision") or 0) >= (latest[k].get("revision") or 0):
            latest[k] = v
    ordered = sorted(latest.values(), key=lambda v: (not v.get("final"), v.get("aggregation"), v.get("window_start")))
    return ordered[:n]


def warehouse_rows(dsn: str, picked: list[dict[str, Any]]) -> list[tuple[Any, ...] | None]:
    """(revision, final, closed_by) of each picked result's row in ``agg_<name>`` (DuckDB)."""
    import duckdb

    from streamproc.sinks.aggregates import group_text

    rows: list[tuple[Any, ...] | None] = []
    with duckdb.connect(dsn.removeprefix("duckdb://"), read_only=True) as con:
        schemas = {
            r[1]: r[0] for r in con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
        }
        for v in picked:
            name = f"agg_{v['aggregation']}"
            if name not in schemas:
                rows.append(None)
                continue
            table = f'"{schemas[name]}"."{name}"'
            where = " AND ".join(f'"{f}" = ?' for f in v["group"]) + (" AND " if v["group"] else "")
            params = [group_text(x) for x in v["group"].values()] + [v["window_start"]]
            found = con.execute(
                f"SELECT revision, final, closed_by FROM {table} WHERE {where}window_start = ?::TIMESTAMPTZ", params
            ).fetchone()
            rows.append(tuple(found) if found is not None else None)
    return rows


def report_aggregates(say: Say, bootstrap: str, topics: Sequence[str], dsn: str | None) -> None:
    """The table: a few results and, beside each, its warehouse row."""
    picked = pick(read_results(bootstrap, topics))
    if not picked:
        say("  aggregates: no result yet")
        return
    rows = warehouse_rows(dsn, picked) if dsn and dsn.startswith("duckdb://") else [None] * len(picked)
    say("  aggregates (Kafka <prefix>.aggregates.<name>) and the warehouse rows they became (agg_<name>):")
    say(f"    {'aggregation':<22}{'group':<28}{'window start':<26}{'rev':>4} {'final':<6}{'closed by':<11}warehouse")
    for v, row in zip(picked, rows, strict=True):
        group = dumps_str(v["group"])[:26]
        wh = f"rev {row[0]}, final {row[1]}, {row[2]}" if row is not None else "-"
        say(
            f"    {v['aggregation']:<22}{group:<28}{v['window_start']:<26}{v['revision']:>4} "
            f"{str(v['final']).lower():<6}{str(v['closed_by'] or '-'):<11}{wh}"
        )
        metrics = ", ".join(f"{k}={dumps_str(x)[:40]}" for k, x in v["metrics"].items())
        say(f"      metrics: {metrics}")
