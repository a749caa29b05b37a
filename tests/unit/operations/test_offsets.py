"""The offset planner of ``streamproc replay``: targets, clamping, re-read and skipped counts,
and the parsing of times, durations and topic selectors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streamproc.errors import ConfigError
from streamproc.operations.offsets import (
    PartitionState,
    Target,
    parse_datetime,
    parse_duration,
    parse_topic_selector,
    plan,
)

STATES = [
    PartitionState("t", 0, low=10, high=100, committed=80),
    PartitionState("t", 1, low=0, high=50, committed=None),  # never committed: reads from low
    PartitionState("t", 2, low=0, high=0, committed=None),  # empty
]


def targets(target: Target, times: dict | None = None) -> list[tuple[int, int, int]]:
    return [(r.target, r.reread, r.skipped) for r in plan(STATES, target, times)]


def test_earliest_and_latest() -> None:
    assert targets(Target("earliest")) == [(10, 70, 0), (0, 0, 0), (0, 0, 0)]
    assert targets(Target("latest")) == [(100, 0, 20), (50, 0, 50), (0, 0, 0)]


def test_offset_is_clamped_to_the_partition() -> None:
    assert targets(Target("offset", 5)) == [(10, 70, 0), (5, 0, 5), (0, 0, 0)]
    assert targets(Target("offset", 1000)) == [(100, 0, 20), (50, 0, 50), (0, 0, 0)]


def test_shift_moves_from_the_committed_offset_or_low() -> None:
    assert targets(Target("shift", -30)) == [(50, 30, 0), (0, 0, 0), (0, 0, 0)]
    assert targets(Target("shift", 5)) == [(85, 0, 5), (5, 0, 5), (0, 0, 0)]
    assert targets(Target("shift", -500)) == [(10, 70, 0), (0, 0, 0), (0, 0, 0)]


def test_a_committed_offset_below_low_counts_from_low() -> None:
    rows = plan([PartitionState("t", 0, low=40, high=60, committed=5)], Target("earliest"))
    assert (rows[0].target, rows[0].reread) == (40, 0)


def test_time_targets_use_the_lookup_and_the_end_when_none_is_found() -> None:
    got = targets(Target("datetime", 123), {("t", 0): 60})
    assert got == [(60, 20, 0), (50, 0, 50), (0, 0, 0)]


def test_rows_serialise_every_field() -> None:
    row = plan(STATES[:1], Target("earliest"))[0].as_dict()
    assert row == {
        "topic": "t",
        "partition": 0,
        "low": 10,
        "high": 100,
        "committed": 80,
        "target": 10,
        "reread": 70,
        "skipped": 0,
    }


def test_describe() -> None:
    assert Target("shift", -3).describe() == "shift by -3"
    assert Target("datetime", 0).describe() == "to the first record at or after 1970-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("PT15M", timedelta(minutes=15)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("P2W", timedelta(weeks=2)),
        ("PT1.5S", timedelta(seconds=1.5)),
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
    ],
)
def test_durations(text: str, want: timedelta) -> None:
    assert parse_duration(text) == want


@pytest.mark.parametrize("text", ["", "P", "PT", "15", "-5m", "fifteen minutes", "P1Y"])
def test_bad_durations_name_the_forms(text: str) -> None:
    with pytest.raises(ConfigError, match="--by-duration: .* is not a duration"):
        parse_duration(text)


def test_datetimes_default_to_utc() -> None:
    assert parse_datetime("2026-05-01T00:00:00") == datetime(2026, 5, 1, tzinfo=UTC)
    assert parse_datetime("2026-05-01T00:00:00Z") == datetime(2026, 5, 1, tzinfo=UTC)
    assert parse_datetime("2026-05-01T02:00:00+02:00") == datetime(2026, 5, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="--to-datetime: 'yesterday' is not an ISO 8601 time"):
        parse_datetime("yesterday")


def test_topic_selectors() -> None:
    assert parse_topic_selector("cdc.a.b") == ("cdc.a.b", None)
    assert parse_topic_selector("cdc.a.b:0,2") == ("cdc.a.b", frozenset({0, 2}))
    for bad in (":1", "t:x", "t:", "t:-1"):
        with pytest.raises(ConfigError, match="--topic"):
            parse_topic_selector(bad)
