"""``streamproc dry-run``: a topic dump through the same :class:`Processor` the worker runs,
with an in-memory state instead of RocksDB and stdout instead of Kafka, then through the
``plan()`` of every configured sink (the same code their ``write()`` runs)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

from streamproc.jsonutil import dumps, loads
from streamproc.pipeline.processor import DeadLetter, Dropped, Emit, RawMessage

__all__ = ["run_dry_run", "outcome_json", "planning_sinks"]


class DictState(dict):  # type: ignore[type-arg]
    def set(self, key: bytes, value: bytes) -> None:
        self[key] = value


def outcome_json(outcome: Emit | DeadLetter | Dropped) -> dict[str, Any]:
    if isinstance(outcome, Emit):
        return {
            "kind": "event",
            "topic": outcome.topic,
            "key": loads(outcome.key),
            "headers": {k: v.decode() for k, v in outcome.headers},
            "value": loads(outcome.value),
        }
    if isinstance(outcome, DeadLetter):
        return {"kind": "dlq", "error_class": outcome.error_class, "reason": outcome.reason}
    out: dict[str, Any] = {"kind": "dropped", "reason": outcome.reason}
    if outcome.detail:
        out["detail"] = outcome.detail
    return out


def _raw(value: Any, is_raw: bool) -> bytes | None:
    if is_raw or value is None:
        return value
    return dumps(value)


def planning_sinks(settings: Any, spec: Any) -> tuple[list[Any], list[Any]]:
    """The configured sinks, built without connecting: (per-change sinks, batching sinks). A sink
    with its own batch limits (the archive) lays out whole batches, so dry-run plans it once over
    the whole input."""
    from streamproc.runtime.sink_app import SINK_ROLES, build_sinks, section_missing

    per_change: list[Any] = []
    batching: list[Any] = []
    for role in SINK_ROLES:
        if section_missing(role, spec) is None:
            for sink in build_sinks(role, settings, spec):
                (batching if sink.batch_limits is not None else per_change).append(sink)
    return per_change, batching


def run_dry_run(lines: Iterable[str], out: TextIO, settings: Any, spec: Any, fmt: str | None = None) -> int:
    """One JSON line per input line: ``event``, ``dlq`` or ``dropped``; after each event, the
    actions of every configured sink (s3, sqs, opensearch, warehouse), and after the input the
    archive's objects. Each action line names its ``sink`` (a sink's own ``dlq`` line is thereby
    told apart from the pipeline's). Exit 0 once the input was read."""
    from streamproc.cli.dump import DumpError, read_dump, to_json_line
    from streamproc.runtime.ingest import build_processor
    from streamproc.sinks.base import record_from_message

    processor = build_processor(settings, spec, fmt=fmt)
    per_change, batching = planning_sinks(settings, spec)
    state = DictState()
    archived = []
    for item in read_dump(lines):
        if type(item) is DumpError:  # a malformed input line is reported like a poison message
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
    for sink in batching:
        for action in sink.plan([r for r in archived if sink.wants(r)]):
            out.write(to_json_line({**action, "sink": sink.name}))
    out.flush()
    return 0
