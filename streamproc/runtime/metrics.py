"""Prometheus metric objects. Labels carry topic, entity, operation and reason names only —
never keys, values or anything derived from a payload."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics", "SinkMetrics", "AggregationMetrics", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Metrics:
    """One registry per app, so tests and several apps in one process never collide."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.events_in = Counter(
            "streamproc_events_in_total", "Messages consumed from source topics", ["topic"], registry=r
        )
        self.events_out = Counter("streamproc_events_out_total", "Clean events produced", ["entity", "op"], registry=r)
        self.events_dropped = Counter(
            "streamproc_events_dropped_total",
            "Events dropped; reason: duplicate, stale, operation (not kept by config), unrouted (no pipeline)",
            ["entity", "reason"],
            registry=r,
        )
        self.events_skipped = Counter(
            "streamproc_events_skipped_total",
            "Messages without a data change (tombstone, transaction, heartbeat, control, message)",
            ["topic", "reason"],
            registry=r,
        )
        self.events_dlq = Counter(
            "streamproc_events_dlq_total",
            "Messages sent to the dead-letter topic",
            ["topic", "error_class"],
            registry=r,
        )
        self.validation_warnings = Counter(
            "streamproc_validation_warnings_total",
            "Failed validation rules of severity warn (the event was emitted); one per rule and event",
            ["entity", "rule"],
            registry=r,
        )
        self.events_warned = Counter(
            "streamproc_events_warned_total",
            "Clean events emitted with at least one validation warning (malformed share: "
            "(warned + dlq{error_class=invalid}) / in)",
            ["entity"],
            registry=r,
        )
        self.latency = Histogram(
            "streamproc_end_to_end_latency_seconds",
            "Source change time to clean event acknowledged by the broker",
            ["entity"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.source_time = Gauge(
            "streamproc_clean_event_source_timestamp_seconds",
            "Source change time (Unix seconds) of the newest clean event of the last batch; freshness = now minus this",
            ["entity"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "streamproc_batch_seconds", "Time to process and flush one batch", ["topic"], registry=r
        )
        self.fetch_reseeks = Counter(
            "streamproc_fetch_reseeks_total",
            "Source partitions sought back by the fetch watch (records dropped with no seek to follow)",
            ["topic"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "streamproc_consumer_lag", "High watermark minus next offset", ["topic", "partition"], registry=r
        )
        self.schema_changes = Counter(
            "streamproc_schema_changes_total",
            "Schema drift of clean documents; kind: new_field, type_change (a top-level field's JSON type), "
            "capped (the entity reached STREAMPROC_SCHEMA_MAX_FIELDS)",
            ["entity", "kind"],
            registry=r,
        )
        # read from Faust's table recovery when scraped (runtime/web.py: watch_recovery)
        self.recovery_active = Gauge(
            "streamproc_table_recovery_active",
            "1 while the app's tables are recovered from their changelogs (not processing yet), else 0",
            ["app"],
            registry=r,
        )
        self.recovery_remaining = Gauge(
            "streamproc_table_recovery_remaining",
            "Changelog records still to read; kind: active (before processing resumes) or standby",
            ["app", "kind"],
            registry=r,
        )
        self.dlq_retries = Counter(
            "streamproc_dlq_retry_total",
            "Re-injected DLQ records processed; outcome: emitted, stale, duplicate, filtered, dlq",
            ["topic", "outcome"],
            registry=r,
        )


class SinkMetrics:
    """Per-sink metrics; labels: sink (the sink's name), entity (a configured entity name, else
    ``other``), reason, error class, topic, partition."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.records = Counter(
            "streamproc_sink_records_total", "Records written durably by a sink", ["sink", "entity"], registry=r
        )
        self.bytes = Counter(
            "streamproc_sink_bytes_total", "Clean-event bytes written by a sink", ["sink", "entity"], registry=r
        )
        self.batch_seconds = Histogram(
            "streamproc_sink_batch_seconds",
            "Time of one successful sink write",
            ["sink"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "streamproc_sink_retries_total", "Failed sink writes that will be retried", ["sink", "reason"], registry=r
        )
        self.dlq = Counter(
            "streamproc_sink_dlq_total", "Records a sink sent to the DLQ", ["sink", "error_class"], registry=r
        )
        self.breaker = Gauge(
            "streamproc_sink_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open", ["sink"], registry=r
        )
        self.ready = Gauge(
            "streamproc_sink_ready",
            "1 once the sink started (connected, configuration checked); 0 while a start-up outage is waited out",
            ["sink"],
            registry=r,
        )
        self.lag = Gauge(
            "streamproc_sink_consumer_lag",
            "High watermark minus next offset, per sink consumer group",
            ["sink", "topic", "partition"],
            registry=r,
        )


class AggregationMetrics:
    """The aggregation role's metrics; labels: aggregation (a configured name), topic (a clean
    topic), kind, closed_by and reason names only."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.events_in = Counter(
            "streamproc_aggregation_events_in_total", "Clean events read by the aggregation role", ["topic"], registry=r
        )
        self.deltas = Counter(
            "streamproc_aggregation_deltas_total",
            "Contributions and retractions computed for the repartition topic (one per event and group)",
            ["aggregation"],
            registry=r,
        )
        self.combined = Counter(
            "streamproc_aggregation_combined_total",
            "Of those, the ones sent combined per group and window with the rest of their batch segment",
            ["aggregation"],
            registry=r,
        )
        self.results = Counter(
            "streamproc_aggregation_results_total",
            "Results emitted; kind: update, final, correction (a final with revision > 1)",
            ["aggregation", "kind", "closed_by"],
            registry=r,
        )
        self.late = Counter(
            "streamproc_aggregation_late_total",
            "Changes for windows no longer in state, written to <prefix>.aggregates.late",
            ["aggregation"],
            registry=r,
        )
        self.incomplete = Counter(
            "streamproc_aggregation_incomplete_total",
            "Partial updates without a known document, which cannot be aggregated",
            ["aggregation"],
            registry=r,
        )
        self.skipped = Counter(
            "streamproc_aggregation_skipped_total",
            "Inputs not aggregated; reason: duplicate, no-event-time, not-a-clean-event, malformed-repartition-message",
            ["aggregation", "reason"],
            registry=r,
        )
        self.fetch_reseeks = Counter(
            "streamproc_aggregation_fetch_reseeks_total",
            "Clean or repartition partitions sought back by the fetch watch (runtime/fetch_watch.py)",
            ["topic"],
            registry=r,
        )
        self.idle_ticks = Counter(
            "streamproc_aggregation_idle_ticks_total",
            "Idle watermark advances sent for caught-up, quiet clean partitions",
            ["aggregation"],
            registry=r,
        )
