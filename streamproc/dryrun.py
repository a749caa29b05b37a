"""``streamproc dry-run``: a topic dump through the same :class:`Processor` the worker runs,
with an in-memory state instead of RocksDB and stdout instead of Kafka."""

from __future__ import annotations

from typing import Any, Iterable, TextIO

from streamproc.jsonutil import dumps_str, loads
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


def run_dry_run(lines: Iterable[str], out: TextIO, settings: Any, spec: Any, fmt: str | None = None) -> int:
    from streamproc.app import build_processor
    from streamproc.dumpio import read_dump

    processor = build_processor(settings, spec)
    if fmt is not None:
        processor.decoder.default_format = fmt
    state = DictState()
    for offset, item in enumerate(read_dump(lines)):
        if isinstance(item, str):  # malformed input line: reported like a poison message
            out.write(dumps_str({"kind": "dlq", "error_class": "poison", "reason": item}) + "\n")
            continue
        msg = RawMessage(item.topic, item.key, item.value, [], 0, offset)
        out.write(dumps_str(outcome_json(processor.process(msg, state))) + "\n")
    out.flush()
    return 0
