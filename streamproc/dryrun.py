"""``streamproc dry-run``: a topic dump through the same :class:`Processor` the worker runs,
with an in-memory state instead of RocksDB and stdout instead of Kafka."""

from __future__ import annotations

from typing import Any, Iterable, TextIO

from streamproc.jsonutil import dumps, loads
from streamproc.pipeline.processor import DeadLetter, Dropped, Emit, RawMessage

__all__ = ["run_dry_run", "outcome_json"]


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


def run_dry_run(lines: Iterable[str], out: TextIO, settings: Any, spec: Any, fmt: str | None = None) -> int:
    """One JSON line per input line: ``event``, ``dlq`` or ``dropped``. Exit 0 once the input was read."""
    from streamproc.app import build_processor
    from streamproc.dumpio import DumpError, read_dump, to_json_line

    processor = build_processor(settings, spec, fmt=fmt)
    state = DictState()
    for item in read_dump(lines):
        if type(item) is DumpError:  # a malformed input line is reported like a poison message
            out.write(to_json_line({"kind": "dlq", "error_class": "poison", "reason": item.reason}))
            continue
        offset = item.offset if item.offset is not None else item.line_no
        msg = RawMessage(item.topic, _raw(item.key, item.raw), _raw(item.value, item.raw), [], 0, offset)
        out.write(to_json_line(outcome_json(processor.process(msg, state))))
    out.flush()
    return 0
