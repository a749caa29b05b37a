"""The origin of a clean event: the record ingest consumed to write it, as a header of the clean
record, ``streamproc.origin: <topic>:<partition>:<offset>`` (the source record, or for a DLQ
retry the record of ``<prefix>.retry``), so the aggregation role can tell a copy of a clean
event from a new one without keeping a state per entity key.

Where copies come from: ingest makes a batch's output durable before it records its state, so a
crash (or a worker that lost its partitions but still produces) writes some clean events again,
from the same consumed records, after the originals. One consumed partition's events arrive in
a clean partition in the order ingest consumed them (one idempotent producer per worker), and an
owner starts at the offset the last recorded batch ends at, after everything before it was
durable. So, per clean partition and per origin stream (topic and partition), an event whose
origin offset is not above the highest already taken is a copy, and every consumed record that
ingest turned into a clean event is taken exactly once, however the owners' outputs interleave:
the first arrival of an offset ``o`` could only be refused if an offset above ``o`` had arrived
before it, from an owner that either also produces ``o`` first (it produces in order) or started
past ``o``, and then ``o`` was durable before that owner's first output.

Records without the header (written by something else than streamproc's ingest) keep the
per-key dedupe by position (:func:`streamproc.aggregate.upstream_step`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["ORIGIN_HEADER", "Origin", "origin_header", "parse_origin", "is_copy"]

ORIGIN_HEADER = "streamproc.origin"
_MAX_OFFSET = 2**63 - 1
_MAX_LEN = 300  # a topic name has at most 249 characters


class Origin(tuple[bytes, int]):
    """(stream: ``<topic>:<partition>`` as bytes, offset)."""

    __slots__ = ()

    @property
    def stream(self) -> bytes:
        return self[0]

    @property
    def offset(self) -> int:
        return self[1]


def origin_header(topic: str, partition: int, offset: int) -> tuple[str, bytes]:
    """The header ingest adds to the clean record it writes from ``topic[partition]@offset``."""
    return ORIGIN_HEADER, f"{topic}:{partition}:{offset}".encode()


def parse_origin(headers: Iterable[tuple[str, Any]] | Mapping[str, Any] | None) -> Origin | None:
    """The origin in ``headers``, or ``None`` when there is none or it is not one (a hostile or
    foreign value: the record then takes the per-key path, which is always correct)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    for name, value in pairs:
        if name != ORIGIN_HEADER:
            continue
        if not isinstance(value, bytes) or len(value) > _MAX_LEN:
            return None
        stream, sep, offset = value.rpartition(b":")
        topic, sep2, partition = stream.rpartition(b":")
        if not (sep and sep2 and topic and partition.isdigit() and offset.isdigit()):
            return None
        n = int(offset)
        return Origin((stream, n)) if n <= _MAX_OFFSET and len(partition) < 10 else None
    return None


def is_copy(highest: int | None, offset: int) -> bool:
    """Whether an event of origin ``offset`` is a copy, given the highest origin offset already
    taken from its stream in its clean partition (``None``: none yet)."""
    return highest is not None and offset <= highest
