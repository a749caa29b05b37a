"""Offset planning of ``streamproc replay``: from each partition's low and high watermark and the
group's committed offset, the target of the chosen reset and how many records that re-reads (or
skips). Targets are clamped to ``[low, high]`` as kafka-consumer-groups clamps them. A partition
the group never committed reads from ``low`` (the apps' ``auto_offset_reset`` is ``earliest``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from streamproc.errors import ConfigError

__all__ = [
    "TargetKind",
    "Target",
    "PartitionState",
    "PlanRow",
    "parse_duration",
    "parse_datetime",
    "parse_topic_selector",
    "plan",
    "needs_times",
]

TargetKind = Literal["earliest", "latest", "offset", "datetime", "duration", "shift"]


@dataclass(frozen=True, slots=True)
class Target:
    """One reset: ``kind`` and its argument (offset, shift, or the time in epoch milliseconds)."""

    kind: TargetKind
    value: int = 0

    def describe(self) -> str:
        if self.kind in ("earliest", "latest"):
            return f"to {self.kind}"
        if self.kind == "offset":
            return f"to offset {self.value}"
        if self.kind == "shift":
            return f"shift by {self.value:+d}"
        when = datetime.fromtimestamp(self.value / 1000, UTC).isoformat(timespec="milliseconds")
        return f"to the first record at or after {when.replace('+00:00', 'Z')}"


def needs_times(target: Target) -> bool:
    """Whether the target needs an offset-for-time lookup per partition."""
    return target.kind in ("datetime", "duration")


@dataclass(frozen=True, slots=True)
class PartitionState:
    topic: str
    partition: int
    low: int
    high: int
    committed: int | None  # None: the group never committed this partition


@dataclass(frozen=True, slots=True)
class PlanRow:
    topic: str
    partition: int
    low: int
    high: int
    committed: int | None
    target: int
    #: records between the target and the committed offset read again (0 when moving forward)
    reread: int
    #: records the group will skip (moving forward past its committed offset)
    skipped: int

    def as_dict(self) -> dict[str, int | str | None]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "low": self.low,
            "high": self.high,
            "committed": self.committed,
            "target": self.target,
            "reread": self.reread,
            "skipped": self.skipped,
        }


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def plan(
    states: list[PartitionState], target: Target, times: dict[tuple[str, int], int] | None = None
) -> list[PlanRow]:
    """One row per partition. ``times``: for a time target, the first offset at or after the time
    per partition (absent: no such record, so the end)."""
    rows = []
    for s in states:
        start = _clamp(s.committed if s.committed is not None else s.low, s.low, s.high)
        if target.kind == "earliest":
            goal = s.low
        elif target.kind == "latest":
            goal = s.high
        elif target.kind == "offset":
            goal = target.value
        elif target.kind == "shift":
            goal = start + target.value
        else:
            goal = (times or {}).get((s.topic, s.partition), s.high)
        goal = _clamp(goal, s.low, s.high)
        rows.append(
            PlanRow(s.topic, s.partition, s.low, s.high, s.committed, goal, max(0, start - goal), max(0, goal - start))
        )
    return rows


_SIMPLE = re.compile(r"^(\d+)\s*(ms|s|m|h|d|w)$")
_ISO = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``PT15M``, ``P1DT2H``, ``P2W`` (ISO 8601, as kafka-consumer-groups' ``--by-duration``) or
    ``90s``, ``15m``, ``2h``, ``7d``. A ConfigError names the accepted forms."""
    raw = text.strip()
    simple = _SIMPLE.match(raw)
    if simple:
        return timedelta(seconds=int(simple.group(1)) * _UNITS[simple.group(2)])
    iso = _ISO.match(raw.upper())
    if iso and raw.upper() not in ("P", "PT") and any(iso.groups()):
        w, d, h, m, s = (float(g) if g else 0.0 for g in iso.groups())
        return timedelta(weeks=w, days=d, hours=h, minutes=m, seconds=s)
    raise ConfigError(f"--by-duration: '{text}' is not a duration (ISO 8601 like PT15M or P1DT2H, or 90s, 15m, 2h, 7d)")


def parse_datetime(text: str, flag: str = "--to-datetime") -> datetime:
    """An ISO 8601 time; without a zone it is UTC (``2026-05-01T00:00:00``, ``…Z``, ``…+02:00``)."""
    raw = text.strip()
    try:
        when = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise ConfigError(f"{flag}: '{text}' is not an ISO 8601 time (e.g. 2026-05-01T00:00:00Z)") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def parse_topic_selector(text: str) -> tuple[str, frozenset[int] | None]:
    """``T`` (every partition) or ``T:0,2``: the topic and its selected partitions."""
    topic, sep, parts = text.rpartition(":") if ":" in text else (text, "", "")
    if not topic:
        raise ConfigError(f"--topic: '{text}' names no topic")
    if not sep:
        return topic, None
    try:
        chosen = frozenset(int(p) for p in parts.split(",") if p.strip())
    except ValueError:
        raise ConfigError(f"--topic: '{text}': partitions must be integers, as in T:0,2") from None
    if not chosen or min(chosen) < 0:
        raise ConfigError(f"--topic: '{text}': name at least one partition (0 or more), as in T:0,2")
    return topic, chosen
