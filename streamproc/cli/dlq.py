"""``streamproc dlq inspect`` and ``streamproc dlq replay``.

``inspect`` prints one line per selected DLQ record (DLQ partition/offset, original
topic/partition/offset, error class, stage, reason, time, attempt, and the outcome of its latest
re-injection when the ingest role reported one) and a summary by error class and reason. It shows
no payload unless ``--show-payload``, which first warns that the DLQ holds unredacted data.

``replay`` re-injects the selected records into ``<prefix>.retry`` (preview by default): original
key, value and headers plus ``streamproc.dlq.source`` and ``streamproc.dlq.attempt``. Refused, and
reported: a record at ``--max-attempts``, one superseded by a later DLQ record of the same source
position, one that did not come from an ingest source topic. The ingest role processes each
re-injected record against the state of its source partition and reports the outcome (emitted,
stale, duplicate, filtered, or back to the DLQ) in the audit topic; ``--wait`` waits for those
outcomes and prints them."""

from __future__ import annotations

import argparse
import base64
import sys
import time
from datetime import UTC, datetime
from typing import Any

from streamproc.config.loader import load_pipelines
from streamproc.config.settings import Settings, load_settings
from streamproc.errors import ConfigError, ExitCode
from streamproc.jsonutil import dumps_str
from streamproc.operations.audit import OUTCOME_ACTION, AuditRecord
from streamproc.operations.offsets import parse_datetime
from streamproc.pipeline.dlq_retry import DEFAULT_MAX_ATTEMPTS, DlqEntry, plan_replay, retry_headers, select, summary

__all__ = ["add_arguments", "inspect", "replay", "PAYLOAD_WARNING"]

PAYLOAD_WARNING = (
    "WARNING: --show-payload prints DLQ payloads. The DLQ holds UNREDACTED data (personal data of the raw "
    "change topics): do not paste this output into tickets, chat or files others can read."
)


def _selectors(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", metavar="ISO", help="only records written at or after this time (UTC if no zone)")
    p.add_argument("--error-class", metavar="C", help="only this error class (poison, invalid, …)")
    p.add_argument("--topic", metavar="T", help="only records from this original topic")
    p.add_argument("--limit", type=int, metavar="N", help="at most N records (the oldest first)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--config", default=None, help="pipelines YAML (default config/pipelines.yaml)")
    p.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers (overrides the environment)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dlq_command", required=True)
    ins = sub.add_parser("inspect", help="list DLQ records (no payload) and a summary by class and reason")
    _selectors(ins)
    ins.add_argument("--show-payload", action="store_true", help="also print key and value (unredacted data)")
    ins.set_defaults(func=inspect)
    rep = sub.add_parser("replay", help="re-inject DLQ records into the retry topic (preview by default)")
    _selectors(rep)
    rep.add_argument("--execute", action="store_true", help="re-inject; without it the plan is only shown")
    rep.add_argument(
        "--max-attempts", type=int, default=DEFAULT_MAX_ATTEMPTS, help="refuse records re-injected this often"
    )
    rep.add_argument("--wait", type=float, default=0.0, metavar="S", help="wait up to S seconds for the outcomes")
    rep.set_defaults(func=replay)


def _progress(text: str) -> None:
    print(f"dlq: {text}", file=sys.stderr, flush=True)


def _load(args: argparse.Namespace) -> tuple[Settings, list[DlqEntry], list[DlqEntry]]:
    from streamproc.runtime.apps import require_bootstrap
    from streamproc.runtime.dlq_io import read_dlq

    settings = load_settings(pipelines=args.config, kafka_bootstrap=args.bootstrap)
    require_bootstrap(settings)
    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit: must be 1 or more")
    since = int(parse_datetime(args.since, "--since").timestamp() * 1000) if args.since else None
    every = read_dlq(settings, _progress)
    chosen = select(every, since_ms=since, error_class=args.error_class, topic=args.topic, limit=args.limit)
    return settings, every, chosen


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _outcomes(settings: Settings) -> dict[str, dict[str, Any]]:
    """DLQ position → the latest outcome the ingest role reported for its re-injection."""
    from streamproc.runtime.audit_log import read_audit

    return {str(r.get("source")): r for r in read_audit(settings, OUTCOME_ACTION)}


def _origin(e: DlqEntry) -> str:
    return f"{e.topic or '?'}[{'?' if e.partition is None else e.partition}]@{'?' if e.offset is None else e.offset}"


def _payload(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode()


def inspect(args: argparse.Namespace) -> ExitCode:
    if args.show_payload:
        print(PAYLOAD_WARNING, file=sys.stderr, flush=True)
    settings, every, chosen = _load(args)
    outcomes = _outcomes(settings)
    rows = []
    for e in chosen:
        row: dict[str, Any] = {**e.describe(), "time": _iso(e.timestamp_ms)}
        done = outcomes.get(e.position)
        row["retried"] = done.get("outcome") if done else None
        if args.show_payload:
            row["key"], row["value"] = _payload(e.key), _payload(e.value)
        rows.append(row)
    counts = summary(chosen)
    if args.json:
        print(
            dumps_str(
                {
                    "total": len(every),
                    "selected": len(chosen),
                    "records": rows,
                    "summary": [{"error_class": c, "reason": r, "count": n} for c, r, n in counts],
                }
            )
        )
        return ExitCode.OK
    for e, row in zip(chosen, rows, strict=True):
        line = (
            f"dlq {e.position}  from {_origin(e)}  {e.error_class or '-'}  stage {e.stage or '-'}  "
            f"{row['time']}  attempt {e.attempt}  reason: {e.reason or '-'}"
        )
        if row["retried"]:
            line += f"  retried: {row['retried']}"
        print(line)
        if args.show_payload:
            print(f"    key: {row['key']}\n    value: {row['value']}")
    print(f"{len(chosen)} of {len(every)} DLQ records selected; by error class and reason:")
    for c, r, n in counts:
        print(f"  {n:>7}  {c or '-'}: {r or '-'}")
    return ExitCode.OK


def replay(args: argparse.Namespace) -> ExitCode:
    from streamproc.runtime.admin import partition_counts
    from streamproc.runtime.dlq_io import RetryWriter, ensure_retry_topic
    from streamproc.runtime.kafka_config import confluent_config

    if args.max_attempts < 1:
        raise ConfigError("--max-attempts: must be 1 or more")
    settings, every, chosen = _load(args)
    spec = load_pipelines(settings.pipelines)
    bootstrap, client = settings.kafka_bootstrap or "", confluent_config(settings)
    source_topics = spec.topics(settings.source_topic_prefix)
    counts = partition_counts(bootstrap, source_topics + [settings.retry_topic], client=client)
    retry_parts = counts.get(settings.retry_topic, settings.partitions)
    sources = {t: counts[t] for t in source_topics if t in counts}
    decisions = plan_replay(
        chosen, every, max_attempts=args.max_attempts, sources=sources, retry_partitions=retry_parts
    )
    go = [d for d in decisions if d.refused is None]
    refused = [d for d in decisions if d.refused is not None]
    audit_id = None
    if args.execute and go:
        ensure_retry_topic(settings)
        writer = RetryWriter(settings)
        for n, d in enumerate(go, 1):
            e = d.entry
            writer.send(e.key, e.value, retry_headers(e, d.attempt), e.partition or 0)
            if n % 1000 == 0:
                _progress(f"re-injected {n} of {len(go)}")
        writer.flush()
        from streamproc.runtime.audit_log import write_audit

        audit = AuditRecord(
            "dlq replay",
            {
                "what": {
                    "since": args.since,
                    "error_class": args.error_class,
                    "topic": args.topic,
                    "limit": args.limit,
                },
                "injected": [
                    {"source": d.entry.position, "origin": _origin(d.entry), "attempt": d.attempt} for d in go
                ],
                "refused": [{"source": d.entry.position, "reason": d.refused} for d in refused],
                "retry_topic": settings.retry_topic,
            },
        )
        write_audit(settings, audit)
        audit_id = audit.id
    outcomes = _wait_outcomes(settings, [d.entry.position for d in go], args.wait) if args.execute and go else {}
    _report(args, settings, decisions, outcomes, audit_id)
    return ExitCode.OK


def _wait_outcomes(settings: Settings, sources: list[str], wait: float) -> dict[str, dict[str, Any]]:
    if wait <= 0:
        return {}
    deadline = time.monotonic() + wait
    wanted = set(sources)
    found: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        found = {s: o for s, o in _outcomes(settings).items() if s in wanted}
        if len(found) == len(wanted):
            break
        _progress(f"{len(found)} of {len(wanted)} outcomes reported by the ingest role")
        time.sleep(1.0)
    return found


def _report(
    args: argparse.Namespace,
    settings: Settings,
    decisions: list[Any],
    outcomes: dict[str, dict[str, Any]],
    audit_id: str | None,
) -> None:
    items = []
    for d in decisions:
        e = d.entry
        item: dict[str, Any] = {
            "source": e.position,
            "origin": _origin(e),
            "error_class": e.error_class,
            "attempt": d.attempt if d.refused is None else e.attempt,
            "refused": d.refused,
        }
        if e.position in outcomes:
            item["outcome"] = outcomes[e.position].get("outcome")
        items.append(item)
    go = [i for i in items if i["refused"] is None]
    if args.json:
        print(
            dumps_str(
                {
                    "execute": bool(args.execute),
                    "retry_topic": settings.retry_topic,
                    "records": items,
                    "audit": audit_id,
                }
            )
        )
        return
    verb = "re-injected" if args.execute else "would re-inject"
    for i in items:
        if i["refused"] is None:
            tail = f"  outcome: {i['outcome']}" if "outcome" in i else ""
            print(f"dlq {i['source']}  from {i['origin']}  {verb} as attempt {i['attempt']}{tail}")
        else:
            print(f"dlq {i['source']}  from {i['origin']}  refused: {i['refused']}")
    print(f"{len(go)} {verb} into {settings.retry_topic}, {len(items) - len(go)} refused")
    if not args.execute:
        print("PREVIEW (nothing sent; add --execute)")
    elif go and not outcomes:
        print("outcomes (emitted, stale, duplicate, dlq) appear in `streamproc dlq inspect` once ingest processed them")
    if audit_id:
        print(f"audit record {audit_id} written to {settings.audit_topic}")
