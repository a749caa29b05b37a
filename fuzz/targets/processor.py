"""Fuzz target: ``Processor.process`` (``streamproc.pipeline.processor``) with the shipped
``config/pipelines.yaml``, built as ``streamproc dry-run`` builds it (development settings,
``build_processor(..., offline=True)``) over an in-memory state store.

Input: up to :data:`MAX_MESSAGES` lines ``topic TAB key TAB value`` (compact JSON holds neither
raw tabs nor line feeds, so the seeds' records keep their shape); a line without tabs is a value
for the first configured topic, an empty key is none, a value ``~`` a tombstone, and a line
equal to an earlier one a redelivery (same offset). The sequence runs twice, each time from an
empty state: ``process`` must never raise (every failure is a ``DeadLetter`` whose reason quotes
no value of the input), every clean event must be strict UTF-8 JSON, a redelivered record is
never emitted twice unless its position is shorter than the key's (an offset fallback after
source positions: not comparable, applied), and both runs must give the same outcomes. Under
``FUZZ_STRICT=1`` a ``DeadLetter`` of class ``internal`` (a bug absorbed by the processor) fails
too.
"""

from __future__ import annotations

import json
from pathlib import Path

from fuzz.harness import InvariantViolation, SafetyNetHit, check_no_echo, check_strict_bytes, strict_mode
from fuzz.mutator import lines_mutator
from streamproc.config.loader import load_pipelines
from streamproc.config.settings import load_settings
from streamproc.pipeline.processor import DeadLetter, Dropped, Emit, Outcome, RawMessage
from streamproc.runtime.processor import build_processor

__all__ = ["test_one_input", "custom_mutator", "MAX_MESSAGES", "PIPELINES"]

custom_mutator = lines_mutator

MAX_MESSAGES = 16
PIPELINES = Path(__file__).resolve().parents[2] / "config" / "pipelines.yaml"
_ERROR_CLASSES = {"poison", "invalid", "configuration", "internal"}

_SETTINGS = load_settings(pipelines=str(PIPELINES), dev=True)
_SPEC = load_pipelines(_SETTINGS.pipelines)
_PROCESSOR = build_processor(_SETTINGS, _SPEC, offline=True)
_DEFAULT_TOPIC = _SPEC.sources[0].source_topics(_SETTINGS.source_topic_prefix)[0]
#: names a DLQ reason may use although an input may hold them as values: the configuration's
_NAMES = tuple(
    name
    for src in _SPEC.sources
    for name in (src.entity, src.namespace or "", *src.source_topics(_SETTINGS.source_topic_prefix))
    if name
)


class _State(dict[bytes, bytes]):
    def set(self, key: bytes, value: bytes) -> None:
        self[key] = value


def _messages(data: bytes) -> list[RawMessage]:
    """The input's records; a line equal to an earlier one is a redelivery: it gets that line's
    offset (its position, for formats that order by offset)."""
    out = []
    first_offset: dict[bytes, int] = {}
    for index, line in enumerate(data.split(b"\n")[:MAX_MESSAGES]):
        offset = first_offset.setdefault(line, index)
        parts = line.split(b"\t", 2)
        if len(parts) == 3:
            topic = parts[0].decode("utf-8", "replace") or _DEFAULT_TOPIC
            key, value = parts[1] or None, parts[2]
        else:
            topic, key, value = _DEFAULT_TOPIC, None, line
        out.append(RawMessage(topic, key, None if value == b"~" else value, [], 0, offset))
    return out


def _check(outcome: Outcome, data: bytes, topic: str) -> None:
    if isinstance(outcome, Emit):
        check_strict_bytes(outcome.value, "a clean event")
        check_strict_bytes(outcome.key, "a clean event's key")
        if not outcome.topic.startswith(_SETTINGS.topic_prefix + ".events."):
            raise InvariantViolation("a clean event for a topic outside the events namespace")
        for name, value in outcome.headers:
            if type(name) is not str or type(value) is not bytes:
                raise InvariantViolation("a header is not (str, bytes)")
    elif isinstance(outcome, DeadLetter):
        if outcome.error_class not in _ERROR_CLASSES:
            raise InvariantViolation("a DLQ record with an unknown error class")
        check_no_echo(outcome.reason, data, "a DLQ reason", (*_NAMES, topic))
        if strict_mode() and outcome.error_class == "internal":
            raise SafetyNetHit(f"internal DLQ record: {outcome.reason} (stage {outcome.stage})")
    elif not isinstance(outcome, Dropped):
        raise InvariantViolation(f"process returned {type(outcome).__name__}")


def _position(outcome: Emit) -> list[int]:
    return list(json.loads(dict(outcome.headers).get("source_position", b"[]")))


def _run(messages: list[RawMessage], data: bytes) -> list[Outcome]:
    """Process ``messages`` from an empty state, checking every outcome. A redelivery (a record
    equal to one already emitted) must not be emitted again when its position is at least as long
    as every position emitted for its key: positions of a shorter shape (an offset fallback after
    source positions) cannot be compared and are applied, and never replace the stored one (the
    rule of :mod:`streamproc.pipeline.ordering`)."""
    state = _State()
    emitted: set[tuple[str, bytes | None, bytes | None]] = set()
    longest: dict[tuple[str, bytes], int] = {}
    outcomes = []
    for msg in messages:
        outcome = _PROCESSOR.process(msg, state)
        _check(outcome, data, msg.topic)
        if isinstance(outcome, Emit) and outcome.op != "truncate":
            record, entity_key = (msg.topic, msg.key, msg.value), (outcome.entity, outcome.key)
            size = len(_position(outcome))
            if record in emitted and size and size >= longest.get(entity_key, 0):
                raise InvariantViolation("a redelivered record (equal bytes, a comparable position) was emitted twice")
            emitted.add(record)
            longest[entity_key] = max(size, longest.get(entity_key, 0))
        outcomes.append(outcome)
    return outcomes


def test_one_input(data: bytes) -> None:
    messages = _messages(data)
    if _run(messages, data) != _run(messages, data):
        raise InvariantViolation("non-deterministic: equal input, different outcomes")
