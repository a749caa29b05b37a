"""``streamproc dry-run``: a topic dump through the same :class:`Processor` the worker runs,
with an in-memory state instead of RocksDB and stdout instead of Kafka, then through the
``plan()`` of every configured sink (the same code their ``write()`` runs)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from streamproc.aggregate import Engine, Result
from streamproc.cli.dump import DumpError, open_input, read_dump, to_json_line
from streamproc.config.aggregations import aggregation_specs
from streamproc.config.loader import load_pipelines
from streamproc.config.pipelines import PipelinesSpec
from streamproc.config.settings import Settings, load_settings
from streamproc.jsonutil import dumps, loads
from streamproc.model import FORMATS
from streamproc.pipeline.processor import DeadLetter, Dropped, Emit, RawMessage
from streamproc.sinks.base import Sink, SinkRecord

__all__ = ["add_arguments", "run", "run_dry_run", "outcome_json", "aggregate_json", "planning_sinks", "DictState"]


class DictState(dict[bytes, bytes]):
    """The pipeline state of a dry run: a dict with the state interface's ``set``."""

    def set(self, key: bytes, value: bytes) -> None:
        self[key] = value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="pipelines YAML to test")
    parser.add_argument("input", nargs="?", default=None, help="file (default: stdin)")
    parser.add_argument("--format", choices=FORMATS, default=None, help="fix the wire format")


def run(args: argparse.Namespace) -> int:
    """Run ``args.input`` through the pipelines of ``args.config`` (dev settings) to stdout."""
    settings = load_settings(pipelines=args.config, dev=True)
    spec = load_pipelines(settings.pipelines)
    with open_input(args.input) as stream:
        return run_dry_run(stream, sys.stdout, settings, spec, fmt=args.format)


def outcome_json(outcome: Emit | DeadLetter | Dropped) -> dict[str, Any]:
    if isinstance(outcome, Emit):
        line = {
            "kind": "event",
            "topic": outcome.topic,
            "key": loads(outcome.key),
            "headers": {k: v.decode() for k, v in outcome.headers},
            "value": loads(outcome.value),
        }
        if outcome.warnings:  # the failed ``warn`` rules by name (the event is emitted anyway)
            line["validation_warnings"] = list(outcome.warnings)
        return line
    if isinstance(outcome, DeadLetter):
        return {"kind": "dlq", "error_class": outcome.error_class, "reason": outcome.reason}
    out: dict[str, Any] = {"kind": "dropped", "reason": outcome.reason}
    if outcome.detail:
        out["detail"] = outcome.detail
    return out


def aggregate_json(result: Result) -> dict[str, Any]:
    """An aggregation result as a dry-run line (``aggregate``, or ``aggregate_late`` for a change
    beyond ``retain`` that the worker writes to ``<prefix>.aggregates.late``)."""
    kind = "aggregate" if result.topic_kind == "aggregate" else "aggregate_late"
    return {"kind": kind, "aggregation": result.aggregation, "key": result.key, "value": result.value}


def _raw(value: Any, is_raw: bool) -> bytes | None:
    if is_raw or value is None:
        return value
    return dumps(value)


def planning_sinks(settings: Settings, spec: PipelinesSpec) -> tuple[list[Sink], list[Sink]]:
    """The configured sinks, built without connecting: (per-change sinks, batching sinks). A sink
    with its own batch limits (the archive) lays out whole batches, so dry-run plans it once over
    the whole input."""
    from streamproc.runtime.roles import SINK_ROLES, build_sinks, section_missing

    per_change: list[Sink] = []
    batching: list[Sink] = []
    for role in SINK_ROLES:
        if section_missing(role, spec) is None:
            for sink in build_sinks(role, settings, spec):
                (batching if sink.batch_limits is not None else per_change).append(sink)
    return per_change, batching


def run_dry_run(
    lines: Iterable[str], out: TextIO, settings: Settings, spec: PipelinesSpec, fmt: str | None = None
) -> int:
    """One JSON line per input line: ``event``, ``dlq`` or ``dropped``; after each event, the
    actions of every configured sink (s3, sqs, opensearch, warehouse), and after the input the
    archive's objects. Each action line names its ``sink`` (a sink's own ``dlq`` line is thereby
    told apart from the pipeline's). With ``aggregations:``, each event's aggregate results follow
    its lines (every update with ``emit: updates``, finals a watermark closes, corrections), and
    after the input every window still open is final with ``closed_by: end-of-input``; the clean
    events of an entity count as one partition, offsets in emission order. Exit 0 once the input
    was read."""
    from streamproc.runtime.processor import build_processor
    from streamproc.sinks.base import record_from_message

    processor = build_processor(settings, spec, fmt=fmt, offline=True)  # output to stdout only
    per_change, batching = planning_sinks(settings, spec)
    state = DictState()
    archived: list[SinkRecord] = []
    engine = Engine(aggregation_specs(spec)) if spec.aggregations else None
    clean_offsets: dict[str, int] = {}
    for item in read_dump(lines):
        if isinstance(item, DumpError):  # a malformed input line is reported like a poison message
            out.write(to_json_line({"kind": "dlq", "error_class": "poison", "reason": item.reason}))
            continue
        offset = item.offset if item.offset is not None else item.line_no
        msg = RawMessage(item.topic, _raw(item.key, item.raw), _raw(item.value, item.raw), [], 0, offset)
        outcome = processor.process(msg, state)
        out.write(to_json_line(outcome_json(outcome)))
        if type(outcome) is Emit and (per_change or batching):
            record = record_from_message(outcome.topic, 0, offset, outcome.key, outcome.value, outcome.headers)
            for sink in per_change:
                if sink.wants(record):
                    for action in sink.plan([record]):
                        out.write(to_json_line({**action, "sink": sink.name}))
            archived.append(record)
        if type(outcome) is Emit and engine is not None:
            clean_offset = clean_offsets.get(outcome.topic, 0)
            clean_offsets[outcome.topic] = clean_offset + 1
            for result in engine.feed(loads(outcome.value), (0, clean_offset)):
                out.write(to_json_line(aggregate_json(result)))
    for sink in batching:
        for action in sink.plan([r for r in archived if sink.wants(r)]):
            out.write(to_json_line({**action, "sink": sink.name}))
    for result in engine.end_of_input() if engine is not None else []:
        out.write(to_json_line(aggregate_json(result)))
    out.flush()
    return 0
