"""Field types of the ``aggregations:`` models: durations, names, timezones, paths as segments.

Like :mod:`streamproc.config.fields`, every validator names the problem and shows at most a
short string of the file (:func:`~streamproc.config.fields.show_value`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

from streamproc.aggregate.spec import DAY_MS
from streamproc.config.fields import show_value

__all__ = ["parse_duration", "segments", "Duration", "PositiveDuration", "AggName", "Timezone", "Scalar", "METRIC_RE"]

_MAX_MS = 3650 * DAY_MS
_DURATION_RE = re.compile(r"([0-9]{1,9})(ms|s|m|h|d)")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": DAY_MS}
_NAME_RE = re.compile(r"[a-z0-9_]+")
METRIC_RE = re.compile(r"[a-z_][a-z0-9_]*")


def parse_duration(value: Any) -> int:
    """``"10m"`` → 600000 (milliseconds)."""
    if isinstance(value, str) and (m := _DURATION_RE.fullmatch(value.strip())):
        ms = int(m.group(1)) * _UNIT_MS[m.group(2)]
        if ms > _MAX_MS:
            raise PydanticCustomError("duration", "a duration is at most 3650d")
        return ms
    raise PydanticCustomError(
        "duration",
        "invalid duration {value}; expected a number and a unit: 500ms, 30s, 10m, 1h, 1d",
        {"value": show_value(value)},
    )


def _positive(ms: int) -> int:
    if ms <= 0:
        raise PydanticCustomError("duration", "must be longer than 0")
    return ms


def _check_name(value: str) -> str:
    if not _NAME_RE.fullmatch(value):
        raise PydanticCustomError("agg_name", "an aggregation name uses a-z, 0-9 and '_' only")
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone",
            "unknown timezone {value}; expected an IANA name such as UTC or Europe/Berlin",
            {"value": show_value(value)},
        ) from None
    return value


Duration = Annotated[int, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[int, BeforeValidator(parse_duration), AfterValidator(_positive)]
AggName = Annotated[str, AfterValidator(_check_name)]
Timezone = Annotated[str, AfterValidator(_check_timezone)]
Scalar = str | int | float | bool | None


def segments(path: str) -> tuple[str, ...]:
    return tuple(seg.replace("[]", "").replace("[*]", "") for seg in path.split("."))
