"""The messages of the repartition topic ``<app_id>-agg-<name>-repartition``.

A :class:`Delta` is one contribution (sign ``+1``) or retraction (``-1``) of one row or event to
one group, routed by :attr:`Delta.group_key` so every delta of a group reaches one partition
(:func:`partition_of`). The runtime sends a batch's deltas to one partition as one message,
:func:`pack` (``{"t": "b", "a": aggregation, "d": [delta, …]}``, in order), each delta keeping its
own ``src``, so dedupe stays per event whatever the batch boundaries. A tick (:func:`tick`)
carries only an upstream partition's watermark; the runtime sends it to every repartition
partition. :func:`decode_messages` reads all three.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streamproc.jsonutil import dumps, parse_json

__all__ = ["Delta", "Tick", "tick", "pack", "decode_message", "decode_messages", "group_key", "partition_of"]


def group_key(aggregation: str, group: dict[str, Any]) -> bytes:
    """Canonical JSON ``[aggregation, [group values in group_by order]]``: the repartition key."""
    return dumps([aggregation, list(group.values())])


def partition_of(key: bytes, partitions: int) -> int:
    """The partition librdkafka's default partitioner (``consistent_random``: CRC-32 of a
    non-empty key) gives ``key``: where one delta per message went, so a group's state stays on
    its partition when its deltas arrive packed (tests/integration/test_partitioner.py)."""
    return zlib.crc32(key) % partitions


@dataclass(slots=True)
class Delta:
    """One signed contribution to ``group`` at ``time_ms``; not to be changed once made (not
    frozen only because a frozen dataclass costs five times as much to make, 2.1 µs against 0.4
    here, and the upstream makes one per event).

    ``inputs``: metric name → the already extracted input (``count``: a number of inputs;
    numeric metrics: a list of canonical decimal strings; ``count_distinct``: a list of canonical
    JSON texts of the values; ``top_k``: a list of ``[canonical JSON text, weight decimal]``). ``skipped``: non-numeric
    inputs left out. ``incomplete``: 1 for an incomplete event attributed to this group and
    window (then ``sign`` is 0 and ``inputs`` empty). ``src`` (upstream partition, offset, index
    within the offset) deduplicates redelivered deltas; ``watermark_ms`` is the upstream
    partition's watermark after the event (``None`` in rows mode). ``key`` is the clean event's
    key, only for the late topic. ``events``: the changes it holds (more than 1 for a delta
    combined from one batch's, :mod:`.combine`).
    """

    aggregation: str
    group: dict[str, Any]
    time_ms: int
    sign: int
    inputs: dict[str, Any]
    src: tuple[int, int, int]
    skipped: int = 0
    incomplete: int = 0
    watermark_ms: int | None = None
    key: dict[str, Any] = field(default_factory=dict)
    events: int = 1

    @property
    def group_key(self) -> bytes:
        return group_key(self.aggregation, self.group)

    def to_json(self) -> bytes:
        """The repartition message value (strict JSON)."""
        obj = {
            "t": "d",
            "a": self.aggregation,
            "g": [[k, v] for k, v in self.group.items()],
            "ts": self.time_ms,
            "s": self.sign,
            "i": self.inputs,
            "src": list(self.src),
            "sk": self.skipped,
            "inc": self.incomplete,
            "wm": self.watermark_ms,
            "k": self.key,
        }
        if self.events != 1:
            obj["n"] = self.events
        return dumps(obj)

    @staticmethod
    def from_obj(obj: Any) -> Delta:
        """A delta from its parsed JSON object; ``ValueError`` if it is none."""
        try:
            if obj["t"] != "d":
                raise ValueError("not a delta")
            p, o, i = obj["src"]
            return Delta(
                aggregation=str(obj["a"]),
                group={str(k): v for k, v in obj["g"]},
                time_ms=int(obj["ts"]),
                sign=int(obj["s"]),
                inputs=dict(obj["i"]),
                src=(int(p), int(o), int(i)),
                skipped=int(obj["sk"]),
                incomplete=int(obj["inc"]),
                watermark_ms=None if obj["wm"] is None else int(obj["wm"]),
                key=dict(obj["k"]),
                events=_positive(obj.get("n", 1)),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ValueError("malformed repartition message") from None

    @staticmethod
    def from_json(data: bytes) -> Delta:
        """Inverse of :meth:`to_json`; raises ``ValueError`` for anything else (a tick included)."""
        msg = decode_message(data)
        if not isinstance(msg, Delta):
            raise ValueError("not a delta message")
        return msg


@dataclass(frozen=True)
class Tick:
    """A watermark-only message: ``upstream_partition`` has reached ``watermark_ms``."""

    aggregation: str
    upstream_partition: int
    watermark_ms: int
    closed_by: str


def tick(aggregation: str, upstream_partition: int, watermark_ms: int, closed_by: str) -> bytes:
    """A tick message (``closed_by``: ``watermark`` or ``idle``) for every repartition partition."""
    return dumps({"t": "w", "a": aggregation, "p": upstream_partition, "wm": watermark_ms, "by": closed_by})


def _positive(value: Any) -> int:
    n = int(value)
    if n < 1:
        raise ValueError("not a count of events")
    return n


def pack(aggregation: str, deltas: Sequence[bytes]) -> bytes:
    """One message holding ``deltas`` (each :meth:`Delta.to_json`), in order."""
    return b'{"t":"b","a":' + dumps(aggregation) + b',"d":[' + b",".join(deltas) + b"]}"


def _decode(obj: Any) -> Delta | Tick:
    if isinstance(obj, dict) and obj.get("t") == "w":
        try:
            return Tick(str(obj["a"]), int(obj["p"]), int(obj["wm"]), str(obj["by"]))
        except (KeyError, TypeError, ValueError):
            raise ValueError("malformed repartition message") from None
    return Delta.from_obj(obj)


def decode_message(data: bytes | str) -> Delta | Tick:
    """A single-delta or tick message as a :class:`Delta` or :class:`Tick`; ``ValueError`` if neither."""
    try:
        obj = parse_json(data)
    except ValueError:
        raise ValueError("malformed repartition message") from None
    return _decode(obj)


def decode_messages(data: bytes | str) -> list[Delta | Tick]:
    """Any repartition message (a :func:`pack`, one delta or a tick) as what it holds, in order;
    ``ValueError`` if it or any delta in it is malformed (nothing of it is applied then)."""
    try:
        obj = parse_json(data)
    except ValueError:
        raise ValueError("malformed repartition message") from None
    if isinstance(obj, dict) and obj.get("t") == "b":
        items = obj.get("d")
        if not isinstance(items, list):
            raise ValueError("malformed repartition message")
        return [Delta.from_obj(item) for item in items]
    return [_decode(obj)]
