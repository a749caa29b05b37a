"""The demo's closing report: what the worker's metrics say happened, what the pipelines file
redacts (derived from the loaded file, so it is true for any file), and what landed, counted at
each target."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from streamproc.dev.demo.metrics import Metrics, metric_total
from streamproc.pipeline.vocabulary import RedactMode

if TYPE_CHECKING:
    from streamproc.config.pipelines import PipelinesSpec
    from streamproc.dev.services import LocalServices

__all__ = ["report_metrics", "pii_summary", "report_targets", "report_next", "Say"]

Say = Callable[[str], None]

_DONE_TO_IT: dict[RedactMode, str] = {
    RedactMode.PARTIAL_MASK: "partially masked",
    RedactMode.FULL_MASK: "fully masked",
    RedactMode.REMOVE: "removed",
    RedactMode.HASH: "hashed",
    RedactMode.TOKENIZE: "tokenized",
}


def report_metrics(
    say: Say, m: Metrics, inj: Counter[str], seen: int, all_done: float, prefix: str, sinks: list[str]
) -> None:
    """Per entity and per sink, what the worker counted, beside what the generator injected."""
    say("[6/6] done. What happened:")
    say(f"  {'entity':<30}{'events out':>11}{'duplicate':>11}{'stale':>8}{'filtered':>10}")
    for e in sorted({dict(lbl)["entity"] for lbl in m.get("streamproc_events_out", {})}):
        say(
            f"  {e:<30}{metric_total(m, 'streamproc_events_out', entity=e):>11}"
            f"{metric_total(m, 'streamproc_events_dropped', entity=e, reason='duplicate'):>11}"
            f"{metric_total(m, 'streamproc_events_dropped', entity=e, reason='stale'):>8}"
            f"{metric_total(m, 'streamproc_events_dropped', entity=e, reason='operation'):>10}"
        )
    out = metric_total(m, "streamproc_events_out")
    dup = metric_total(m, "streamproc_events_dropped", reason="duplicate")
    stale = metric_total(m, "streamproc_events_dropped", reason="stale")
    skipped = metric_total(m, "streamproc_events_skipped")
    dlq = metric_total(m, "streamproc_events_dlq")
    say(f"  clean events: {out} on {prefix}.events.<entity>")
    say(
        f"  dropped: {dup} duplicates (injected {inj['duplicate']}), {stale} stale reorderings "
        f"(injected {inj['reordered']}); skipped: {skipped} tombstones"
    )
    warned = metric_total(m, "streamproc_events_warned")
    invalid = metric_total(m, "streamproc_events_dlq", error_class="invalid")
    say(
        f"  dead-letter: {dlq} on {prefix}.dlq ({invalid} by an error rule; injected {inj['malformed']} malformed); "
        f"emitted with validation_warnings: {warned} (injected {inj['invalid']} rule violations, "
        "which the shipped rules of the trigger collections warn about)"
    )
    busy = sum(m.get("streamproc_batch_seconds_sum", {}).values())  # the worker's own batch timing
    say(
        f"  ingest: {seen} records; {busy:.2f}s spent in batches, Kafka flushes included "
        f"({seen / max(busy, 1e-6):,.0f} records/s); every sink done {all_done:.1f}s after the first record "
        "(one worker process, all roles; sampled each second)"
    )
    for s in sinks:
        say(
            f"  sink {s:<11} {metric_total(m, 'streamproc_sink_records', sink=s):>6} written, "
            f"{metric_total(m, 'streamproc_sink_dlq', sink=s):>4} to the DLQ, "
            f"{metric_total(m, 'streamproc_sink_retries', sink=s):>3} retries"
        )


def pii_summary(spec: PipelinesSpec, source: str, entities: Iterable[str] | None = None) -> list[str]:
    """The report's lines on redaction, read from the pipelines file's ``redact`` rules.

    One line per group of entities with the same rules (in file order), each mode with the
    paths it applies to; ``entities`` limits it to those (the entities of the run's events).
    ``source`` names the file.
    """
    wanted = None if entities is None else set(entities)
    groups: dict[tuple[tuple[str, RedactMode], ...], list[str]] = {}
    for src in spec.sources:
        rules = tuple((rule.path, rule.mode) for rule in src.redact)
        if rules and (wanted is None or src.entity in wanted):
            groups.setdefault(rules, []).append(src.entity)
    if not groups:
        return [f"  PII: {source} redacts no field of these events"]
    lines = [f"  PII, as {source} redacts it:"]
    for rules, names in groups.items():
        paths: dict[RedactMode, list[str]] = {}
        for path, mode in rules:
            paths.setdefault(mode, []).append(path)
        done = "; ".join(f"{', '.join(p)} {_DONE_TO_IT[mode]}" for mode, p in paths.items())
        lines.append(f"    {'/'.join(names)}: {done}")
    return lines


def report_targets(say: Say, services: LocalServices, spec: PipelinesSpec, received: Counter[str]) -> None:
    """Count what really landed, by asking each target (not the worker's metrics)."""
    from streamproc.sinks.s3.aws import make_client

    s = services.settings
    sinks = spec.sinks
    say("  landed, counted at each target:")
    s3 = make_client("s3", s.aws)
    buckets = []
    if sinks.s3_trigger is not None:
        buckets.append((sinks.s3_trigger.bucket, sinks.s3_trigger.env, "change objects"))
    if sinks.s3_archive is not None:
        buckets.append((sinks.s3_archive.bucket, sinks.s3_archive.prefix + "/", "archive objects"))
    for bucket, prefix, what in buckets:
        n = sum(
            1
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
            if "/_streamproc/" not in "/" + obj["Key"]
        )
        say(f"    s3://{bucket}/{prefix}: {n} {what}")
    received = Counter(received)
    routed = None
    if sinks.eventbridge is not None:
        from streamproc.dev.demo.eventbridge import BUS, QUEUE, RULE

        routed = (
            f"    EventBridge: {received.pop(QUEUE, 0)} entries arrived in SQS {QUEUE} through rule {RULE} on bus {BUS}"
        )
    say(
        f"    SQS: {sum(received.values())} messages received (and deleted) by the demo's consumer "
        f"from {len(received)} queues"
    )
    if routed is not None:
        say(routed)
    if services.opensearch is not None:
        docs = {i: len(services.opensearch.documents(i)) for i in services.opensearch.indices()}
        say(f"    OpenSearch (stand-in): {sum(docs.values())} documents in {len(docs)} indices")
    dsn = s.warehouse.dsn.get_secret_value() if s.warehouse.dsn else ""
    if dsn.startswith("duckdb://"):
        say(f"    warehouse (DuckDB {dsn.removeprefix('duckdb://')}): {_duckdb_rows(dsn)}")


def report_next(say: Say) -> None:
    """The report's closing lines: where to look next."""
    say("Where to look next:")
    say("  - README.md (set-up), docs/ARCHITECTURE.md, docs/OPERATIONS.md (Kafka UI, replay, DLQ), docs/SINKS-*.md")
    say("  - docs/MIGRATION.md: leaving the Atlas triggers per collection (shadow, parity gate, cutover, rollback)")
    say("  - streamproc dry-run --config config/pipelines.yaml dump.jsonl  # events + sink actions, offline")
    say("  - streamproc decode dump.jsonl                                   # inspect raw CDC messages")
    say(
        "  - streamproc dev   # every role on the embedded broker with local S3/SQS, DuckDB and the OpenSearch stand-in"
    )


def _duckdb_rows(dsn: str) -> str:
    import duckdb

    with duckdb.connect(dsn.removeprefix("duckdb://"), read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchall()
        ]
        rows = 0
        for t in tables:
            row = con.execute(f'SELECT count(*) FROM public."{t}"').fetchone()
            rows += row[0] if row is not None else 0
    return f"{rows} rows in {len(tables)} tables"
