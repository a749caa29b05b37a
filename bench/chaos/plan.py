"""The campaign's schedule, drawn from one seed before anything runs (pure; no I/O).

A :class:`Plan` holds the SIGKILLs (a moment and a role each) and the target outages (a moment,
a target and a length each), in seconds from the moment the stream starts. Kills fall uniformly
in the stream's window, at least ``min_gap`` apart; outages never overlap one another: the
window is cut into one slot per outage and each outage starts at a random moment of its slot,
or 1 s after the previous one ends if that is later (so the last may end after the window)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

__all__ = ["Kill", "Outage", "Plan", "make_plan", "TARGETS", "ROLES"]

#: the roles the campaign runs, kills and counts at their targets (the eventbridge and aggregations
#: roles have their own outage and crash tests: tests/integration/sinks/test_eventbridge_worker.py,
#: tests/integration/test_windows.py)
ROLES: tuple[str, ...] = ("ingest", "s3", "opensearch", "warehouse")

#: What an outage can stop (each on its own port, started again on the same port).
TARGETS: tuple[str, ...] = ("moto", "postgres", "opensearch")


@dataclass(frozen=True)
class Kill:
    at: float  # seconds from the start of the stream
    role: str


@dataclass(frozen=True)
class Outage:
    at: float
    target: str
    seconds: float


@dataclass(frozen=True)
class Plan:
    seed: int
    window: float
    kills: tuple[Kill, ...] = field(default_factory=tuple)
    outages: tuple[Outage, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict:
        return asdict(self)


def make_plan(
    seed: int,
    roles: Sequence[str],
    *,
    kills: int,
    outages: int,
    window: float,
    targets: Sequence[str] = TARGETS,
    outage_range: tuple[float, float] = (10.0, 30.0),
    warmup: float = 3.0,
    min_gap: float = 1.0,
) -> Plan:
    """``kills`` SIGKILLs of random ``roles`` and ``outages`` stops of random ``targets``, each
    lasting a random time in ``outage_range``, all within ``[warmup, window]`` (seconds)."""
    if window <= warmup:
        raise ValueError(f"the window ({window}s) must be longer than the warm-up ({warmup}s)")
    if kills and (kills - 1) * min_gap > window - warmup:
        raise ValueError(f"{kills} kills at least {min_gap}s apart do not fit in {window - warmup:.0f}s")
    lo, hi = outage_range
    if not 0 < lo <= hi:
        raise ValueError(f"bad outage range {outage_range}")
    rng = random.Random(seed)
    # kills: uniform moments, spread so that consecutive ones are at least min_gap apart
    span = window - warmup - max(0, kills - 1) * min_gap
    moments = sorted(rng.uniform(0, span) for _ in range(kills))
    kill_list = tuple(Kill(round(warmup + m + i * min_gap, 2), rng.choice(list(roles))) for i, m in enumerate(moments))
    slot = (window - warmup) / outages if outages else 0.0
    outage_list = []
    free_from = warmup  # the previous outage's end: outages never overlap
    for i in range(outages):
        seconds = round(rng.uniform(lo, hi), 1)
        start = max(free_from, warmup + i * slot + rng.uniform(0, max(0.0, slot - seconds)))
        outage_list.append(Outage(round(start, 2), rng.choice(list(targets)), seconds))
        free_from = start + seconds + 1.0
    return Plan(seed, window, kill_list, tuple(outage_list))
