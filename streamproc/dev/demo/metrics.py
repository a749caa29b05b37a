"""The worker's Prometheus metrics as the demo reads them: scraped from ``/metrics``, parsed by
``prometheus_client``'s own text parser, summed over labels."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Metrics", "parse_metrics", "scrape", "metric_total", "expected_records", "sinks_done"]

Metrics = dict[str, dict[tuple[tuple[str, str], ...], float]]
"""Sample name (``_total`` dropped) → sorted label pairs → value."""


def parse_metrics(text: str) -> Metrics:
    """Prometheus text → {metric: {sorted label pairs: value}} for streamproc's labelled samples
    (a counter's sample is named without its ``_total`` suffix)."""
    out: Metrics = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("streamproc_") and sample.labels:
                name = sample.name.removesuffix("_total")
                out.setdefault(name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def scrape(port: int) -> Metrics:
    """The worker's metrics on ``port`` ({} while it does not answer)."""
    try:
        return parse_metrics(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text)
    except httpx.HTTPError:
        return {}


def metric_total(metrics: Metrics, name: str, **match: str) -> int:
    """Sum of the samples of ``name`` whose labels include ``match``."""
    return int(
        sum(
            v
            for labels, v in metrics.get(name, {}).items()
            if all(dict(labels).get(k) == want for k, want in match.items())
        )
    )


def expected_records(metrics: Metrics, sink: str, entities: Mapping[str, Collection[str]] | None = None) -> int:
    """The clean events ``sink`` is to write: all, or those of ``entities[sink]`` when given."""
    only = (entities or {}).get(sink)
    if only is None:
        return metric_total(metrics, "streamproc_events_out")
    return sum(metric_total(metrics, "streamproc_events_out", entity=e) for e in only)


def sinks_done(metrics: Metrics, sinks: list[str], entities: Mapping[str, Collection[str]] | None = None) -> bool:
    """Every sink has written (or sent to the DLQ) every clean event the ingest stage produced —
    of its ``entities[sink]`` only, for a sink that writes only some entities."""
    return metric_total(metrics, "streamproc_events_out") > 0 and all(
        metric_total(metrics, "streamproc_sink_records", sink=s) + metric_total(metrics, "streamproc_sink_dlq", sink=s)
        >= expected_records(metrics, s, entities)
        for s in sinks
    )
