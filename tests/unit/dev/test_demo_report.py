"""The demo's report reads the worker's metrics with prometheus_client's parser and says what the
loaded pipelines file redacts (not a fixed sentence), for any file."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from streamproc.config.loader import parse_pipelines
from streamproc.dev.demo.metrics import metric_total, parse_metrics, sinks_done
from streamproc.dev.demo.report import pii_summary

OTHER_FILE = """
version: 1
defaults: {key: [_id]}
sources:
  - entity: patients
    topic: cdc.clinic.patients
    redact:
      - {path: name, mode: FULL_MASK}
      - {path: mrn, mode: TOKENIZE}
      - {path: email, mode: PARTIAL_MASK}
  - entity: visits
    topic: cdc.clinic.visits
  - entity: doctors
    topic: cdc.clinic.doctors
    redact:
      - {path: name, mode: FULL_MASK}
      - {path: mrn, mode: TOKENIZE}
      - {path: email, mode: PARTIAL_MASK}
  - entity: invoices
    topic: cdc.clinic.invoices
    redact:
      - {path: card.number, mode: REMOVE}
"""


def test_the_pii_lines_follow_the_file_entities_with_the_same_rules_together() -> None:
    spec = parse_pipelines(OTHER_FILE, "clinic.yaml")
    assert pii_summary(spec, "clinic.yaml") == [
        "  PII, as clinic.yaml redacts it:",
        "    patients/doctors: name fully masked; mrn tokenized; email partially masked",
        "    invoices: card.number removed",
    ]
    assert pii_summary(spec, "clinic.yaml", entities={"invoices", "visits"}) == [
        "  PII, as clinic.yaml redacts it:",
        "    invoices: card.number removed",
    ]
    assert pii_summary(spec, "clinic.yaml", entities={"visits"}) == [
        "  PII: clinic.yaml redacts no field of these events"
    ]


def test_metrics_are_read_by_the_prometheus_parser_counters_without_total() -> None:
    registry = CollectorRegistry()
    out = Counter("streamproc_events_out_total", "x", ["entity", "op"], registry=registry)
    records = Counter("streamproc_sink_records_total", "x", ["sink", "entity"], registry=registry)
    Histogram("streamproc_batch_seconds", "x", ["topic"], registry=registry).labels("t").observe(0.5)
    Gauge("streamproc_unlabelled", "x", registry=registry).set(1)
    out.labels("users", "insert").inc(3)
    out.labels("users", "update").inc(2)
    out.labels("owners", "insert").inc(1)
    records.labels("s3", "users").inc(6)
    metrics = parse_metrics(generate_latest(registry).decode())
    assert metric_total(metrics, "streamproc_events_out") == 6
    assert metric_total(metrics, "streamproc_events_out", entity="users") == 5
    assert metrics["streamproc_batch_seconds_sum"] == {(("topic", "t"),): 0.5}
    assert "streamproc_unlabelled" not in metrics
    assert sinks_done(metrics, ["s3"]) and not sinks_done(metrics, ["s3", "warehouse"])


def test_a_sink_of_some_entities_is_done_when_it_wrote_their_events() -> None:
    registry = CollectorRegistry()
    out = Counter("streamproc_events_out_total", "x", ["entity", "op"], registry=registry)
    records = Counter("streamproc_sink_records_total", "x", ["sink", "entity"], registry=registry)
    out.labels("users", "insert").inc(3)
    out.labels("reservations", "insert").inc(4)
    records.labels("eventbridge", "users").inc(2)
    only = {"eventbridge": ["users"]}
    assert not sinks_done(parse_metrics(generate_latest(registry).decode()), ["eventbridge"], only)
    records.labels("eventbridge", "users").inc(1)
    metrics = parse_metrics(generate_latest(registry).decode())
    assert sinks_done(metrics, ["eventbridge"], only)
    assert not sinks_done(metrics, ["eventbridge"])  # without the filter: all 7 events expected


def test_the_aggregate_table_shows_the_latest_revision_per_window_finals_first() -> None:
    from streamproc.dev.demo.aggregates import final_wait_seconds, pick

    def v(group: str, start: str, revision: int, final: bool) -> dict[str, object]:
        return {"aggregation": "a", "group": {"g": group}, "window_start": start, "revision": revision, "final": final}

    results = [v("x", "t1", 1, False), v("x", "t1", 2, True), v("y", "t0", 1, False), v("z", "t2", 1, True)]
    assert [(r["group"], r["revision"]) for r in pick(results)] == [({"g": "x"}, 2), ({"g": "z"}, 1), ({"g": "y"}, 1)]
    assert len(pick(results, n=1)) == 1

    class Spec:
        def __init__(self, emit: str, idle: int) -> None:
            self.emit, self.idle_close_ms = emit, idle

    assert final_wait_seconds([Spec("final", 60_000), Spec("updates", 600_000), Spec("final", 120_000)]) == 150
    assert final_wait_seconds([Spec("updates", 1_000)]) == 0
