"""Which windows an event time falls in, in the aggregation's timezone.

* Sizes (and hopping steps) of whole days count local calendar days: a day window runs from one
  local midnight to the next (23 or 25 hours across a DST change); windows of whole weeks start
  on Mondays, other multi-day windows count days from 1970-01-01.
* Shorter windows start at each local midnight and then every ``step`` (``size`` for tumbling)
  of elapsed time; a tumbling window ends at the next local midnight at the latest (so the last
  hour of a 25-hour day is its own window and no window spans two days).
* Session windows are not assigned here (they depend on the other events of the group).
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from streamproc.aggregate.spec import DAY_MS, WindowSpec

__all__ = ["assign", "local_midnight", "local_date", "zone"]

_EPOCH = date(1970, 1, 1)
_MONDAY = date(1970, 1, 5)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=4096)
def local_midnight(tz: str, ordinal: int) -> int:
    """Epoch milliseconds of the first instant of local day ``ordinal`` (a proleptic ordinal)."""
    d = date.fromordinal(ordinal)
    start = datetime(d.year, d.month, d.day, tzinfo=zone(tz))
    return int(start.timestamp()) * 1000


def local_date(tz: str, ms: int) -> int:
    """The ordinal of the local calendar day containing ``ms``."""
    return datetime.fromtimestamp(ms // 1000, zone(tz)).date().toordinal()


def _day_windows(window: WindowSpec, tz: str, t: int) -> list[tuple[int, int]]:
    size = window.size_ms // DAY_MS
    step = (window.step_ms or window.size_ms) // DAY_MS
    anchor = (_MONDAY if size % 7 == 0 and step % 7 == 0 else _EPOCH).toordinal()
    day = local_date(tz, t) - anchor
    first = day - day % step
    out = []
    start = first
    while start + size > day:
        out.append((local_midnight(tz, anchor + start), local_midnight(tz, anchor + start + size)))
        start -= step
    out.reverse()
    return out


def _short_windows(window: WindowSpec, tz: str, t: int) -> list[tuple[int, int]]:
    size = window.size_ms
    step = window.step_ms or size
    tumbling = window.type == "tumbling"
    today = local_date(tz, t)
    out = []
    for ordinal in (today,) if tumbling else (today - 2, today - 1, today):  # a hop may start 2 days back
        midnight, next_midnight = local_midnight(tz, ordinal), local_midnight(tz, ordinal + 1)
        if t < midnight:
            continue
        k = (min(t, next_midnight - 1) - midnight) // step
        while k >= 0:
            start = midnight + k * step
            end = min(start + size, next_midnight) if tumbling else start + size
            if end <= t:
                break
            if start < next_midnight:
                out.append((start, end))
            k -= 1
    return sorted(set(out))


def assign(window: WindowSpec, tz: str, t: int) -> list[tuple[int, int]]:
    """``[(start_ms, end_ms), …]`` of the tumbling or hopping windows containing ``t``, in order."""
    if window.size_ms % DAY_MS == 0 and (window.step_ms or window.size_ms) % DAY_MS == 0:
        return _day_windows(window, tz, t)
    return _short_windows(window, tz, t)
