"""The words of the pipelines file that the steps act on: redaction modes, field types,
transform kinds, the default operations and the past tense of each operation (event types).

The config models validate against these; the pipeline steps dispatch on them.
"""

from __future__ import annotations

import enum

from streamproc.model import Op

__all__ = [
    "RedactMode",
    "FIELD_TYPES",
    "DEFAULT_OPERATIONS",
    "PAST_TENSE",
    "TRANSFORM_KINDS",
    "EPOCH_UNITS",
    "NON_INJECTIVE",
    "SEVERITIES",
    "ON_INVALID",
]


class RedactMode(enum.StrEnum):
    """How a redaction rule rewrites a field (the modes are described in :mod:`.redact`)."""

    REMOVE = "REMOVE"
    HASH = "HASH"
    PARTIAL_MASK = "PARTIAL_MASK"
    FULL_MASK = "FULL_MASK"
    TOKENIZE = "TOKENIZE"


FIELD_TYPES: tuple[str, ...] = ("string", "number", "integer", "boolean", "object", "array", "date")
"""The ``type`` values of a validation rule."""

SEVERITIES: tuple[str, ...] = ("error", "warn")
"""A validation rule's ``severity``: ``error`` sends the event to the DLQ, ``warn`` emits it with the
rule's name in ``validation_warnings``."""

ON_INVALID: tuple[str, ...] = ("dlq", "emit")
"""A source's ``on_invalid``: the severity of its rules that set none (``dlq`` → error, ``emit`` → warn)."""

DEFAULT_OPERATIONS: tuple[Op, ...] = (
    Op.INSERT,
    Op.UPDATE,
    Op.REPLACE,
    Op.UPSERT,
    Op.DELETE,
    Op.SNAPSHOT,
)
"""Operations a source keeps when neither it nor ``defaults`` lists ``operations``."""

PAST_TENSE: dict[Op, str] = {
    Op.INSERT: "created",
    Op.UPDATE: "updated",
    Op.REPLACE: "replaced",
    Op.UPSERT: "upserted",
    Op.DELETE: "deleted",
    Op.SNAPSHOT: "snapshot",
    Op.TRUNCATE: "truncated",
}
"""The default event type of an operation is ``<entity>.<past tense>`` (``users.created``)."""

TRANSFORM_KINDS: tuple[str, ...] = ("rename", "drop", "iso_date", "decimal", "upper", "lower")
"""The keys of a transform step; each step has exactly one."""

EPOCH_UNITS: tuple[str, ...] = ("s", "ms", "us", "ns")
"""The ``unit`` values of an ``iso_date`` step (else the unit is chosen by magnitude)."""

NON_INJECTIVE: frozenset[RedactMode] = frozenset({RedactMode.REMOVE, RedactMode.PARTIAL_MASK, RedactMode.FULL_MASK})
"""Modes that map distinct values to one output: never allowed on a key field."""
