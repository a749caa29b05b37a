"""Window assignment: tumbling, hopping and session windows, timezones and DST."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproc.aggregate import Engine, WindowSpec
from streamproc.aggregate.result import iso_ms
from streamproc.aggregate.spec import DAY_MS, MetricSpec
from streamproc.aggregate.windows import assign
from streamproc.config.agg_fields import parse_duration

from .builders import HOUR, MINUTE, event, row, spec

BERLIN = "Europe/Berlin"


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, tz: str = "UTC") -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def spans(window: WindowSpec, tz: str, t: int) -> list[tuple[str, str]]:
    return [(iso_ms(a), iso_ms(b)) for a, b in assign(window, tz, t)]


def test_tumbling_windows_cover_each_instant_once() -> None:
    w = WindowSpec("tumbling", size_ms=10 * MINUTE)
    assert spans(w, "UTC", ms(2026, 5, 1, 12, 34)) == [("2026-05-01T12:30:00.000Z", "2026-05-01T12:40:00.000Z")]
    assert spans(w, "UTC", ms(2026, 5, 1, 12, 40)) == [("2026-05-01T12:40:00.000Z", "2026-05-01T12:50:00.000Z")]
    assert assign(WindowSpec("tumbling", size_ms=500), "UTC", 1_234) == [(1_000, 1_500)]


def test_hopping_windows_overlap_size_over_step_times() -> None:
    w = WindowSpec("hopping", size_ms=HOUR, step_ms=15 * MINUTE)
    t = ms(2026, 5, 1, 12, 20)
    assert spans(w, "UTC", t) == [
        ("2026-05-01T11:30:00.000Z", "2026-05-01T12:30:00.000Z"),
        ("2026-05-01T11:45:00.000Z", "2026-05-01T12:45:00.000Z"),
        ("2026-05-01T12:00:00.000Z", "2026-05-01T13:00:00.000Z"),
        ("2026-05-01T12:15:00.000Z", "2026-05-01T13:15:00.000Z"),
    ]
    # just after midnight, the windows that started the day before still contain it
    assert spans(w, "UTC", ms(2026, 5, 2, 0, 5))[0] == ("2026-05-01T23:15:00.000Z", "2026-05-02T00:15:00.000Z")
    days = WindowSpec("hopping", size_ms=3 * DAY_MS, step_ms=DAY_MS)
    assert len(assign(days, "UTC", ms(2026, 5, 2, 10))) == 3


@pytest.mark.parametrize(
    ("day", "hours"),
    [((2026, 3, 28), 24), ((2026, 3, 29), 23), ((2026, 10, 25), 25), ((2026, 10, 26), 24)],
)
def test_a_berlin_day_window_across_dst_lasts_23_or_25_hours(day: tuple[int, int, int], hours: int) -> None:
    w = WindowSpec("tumbling", size_ms=DAY_MS)
    noon = ms(*day, 12, tz=BERLIN)
    [(start, end)] = assign(w, BERLIN, noon)
    assert start == ms(*day, 0, tz=BERLIN)
    assert (end - start) // HOUR == hours
    # both ends are local midnights
    for edge in (start, end):
        local = datetime.fromtimestamp(edge / 1000, ZoneInfo(BERLIN))
        assert (local.hour, local.minute) == (0, 0)


def test_events_of_one_berlin_day_across_dst_land_in_one_window() -> None:
    s = spec(window=WindowSpec("tumbling", size_ms=DAY_MS), timezone=BERLIN, metrics=(MetricSpec("n", "count"),))
    engine = Engine([s])
    times = [
        ms(2026, 10, 25, 0, 30, tz=BERLIN),
        ms(2026, 10, 25, 2, 30, tz=BERLIN),
        ms(2026, 10, 25, 23, 59, tz=BERLIN),
    ]
    results = []
    for i, t in enumerate(times):
        results += engine.feed(event(i, 1, t, row("a", 1)), (0, i))
    assert results == []
    results += engine.feed(event(9, 1, ms(2026, 10, 26, 0, 0, tz=BERLIN), row("a", 1)), (0, 9))
    results += engine.end_of_input()
    assert [
        (r.value["window_start"], r.value["window_end"], r.value["metrics"]["n"], r.value["closed_by"]) for r in results
    ] == [
        ("2026-10-24T22:00:00.000Z", "2026-10-25T23:00:00.000Z", 3, "watermark"),
        ("2026-10-25T23:00:00.000Z", "2026-10-26T23:00:00.000Z", 1, "end-of-input"),
    ]


def test_hours_of_a_25_hour_day_and_weeks_start_on_local_monday() -> None:
    hour = WindowSpec("tumbling", size_ms=HOUR)
    day_start = ms(2026, 10, 25, 0, tz=BERLIN)
    starts = {assign(hour, BERLIN, day_start + n * HOUR)[0] for n in range(25)}
    assert len(starts) == 25 and all(end - start == HOUR for start, end in starts)
    week = WindowSpec("tumbling", size_ms=7 * DAY_MS)
    [(start, end)] = assign(week, BERLIN, ms(2026, 3, 29, 12, tz=BERLIN))  # a Sunday, DST starts
    assert datetime.fromtimestamp(start / 1000, ZoneInfo(BERLIN)).isoformat() == "2026-03-23T00:00:00+01:00"
    assert (end - start) // HOUR == 7 * 24 - 1


def test_a_local_hour_in_a_half_hour_zone() -> None:
    w = WindowSpec("tumbling", size_ms=HOUR)
    t = ms(2026, 5, 1, 10, 45, tz="Asia/Kolkata")
    assert spans(w, "Asia/Kolkata", t) == [("2026-05-01T04:30:00.000Z", "2026-05-01T05:30:00.000Z")]


def test_session_windows_merge_events_closer_than_the_gap() -> None:
    s = spec(
        window=WindowSpec("session", gap_ms=10 * MINUTE), grace_ms=30 * MINUTE, metrics=(MetricSpec("n", "count"),)
    )
    engine = Engine([s])
    base = ms(2026, 5, 1, 12)
    # 0 and 22 open two sessions, 5 extends the first to [0, 15), 14 bridges both into one (events
    # exactly `gap` apart would not); 70 closes it
    results = []
    for i, minute in enumerate([0, 22, 5, 14, 70]):
        results += engine.feed(event(i, 1, base + minute * MINUTE, row("a", 1)), (0, i))
    results += engine.end_of_input()
    assert [
        (r.value["window_start"], r.value["window_end"], r.value["metrics"]["n"], r.value["closed_by"]) for r in results
    ] == [
        ("2026-05-01T12:00:00.000Z", "2026-05-01T12:32:00.000Z", 4, "watermark"),
        ("2026-05-01T13:10:00.000Z", "2026-05-01T13:20:00.000Z", 1, "end-of-input"),
    ]
    assert all(r.value["final"] and r.value["revision"] == 1 for r in results)


def test_durations() -> None:
    assert [parse_duration(d) for d in ("500ms", "30s", "10m", "1h", "1d", "7d")] == [
        500,
        30_000,
        600_000,
        HOUR,
        DAY_MS,
        7 * DAY_MS,
    ]
    for bad in ("1 hour", "1w", "-1s", "", 5):
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(bad)


def test_iso_times_are_utc_with_milliseconds() -> None:
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert (
        iso_ms(int(datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC).timestamp() * 1000)) == "2026-01-02T03:04:05.678Z"
    )


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["UTC", BERLIN, "America/Los_Angeles", "Asia/Kolkata", "Australia/Lord_Howe"]),
    st.sampled_from([15 * MINUTE, HOUR, 5 * HOUR, DAY_MS, 2 * DAY_MS, 7 * DAY_MS]),
    st.integers(ms(2025, 1, 1), ms(2027, 1, 1)),
)
def test_tumbling_windows_tile_time(tz: str, size: int, t: int) -> None:
    """Every instant lies in exactly one tumbling window, and the next window starts where it ends."""
    w = WindowSpec("tumbling", size_ms=size)
    [(start, end)] = assign(w, tz, t)
    assert start <= t < end
    assert assign(w, tz, end)[0][0] == end and assign(w, tz, start - 1)[0][1] == start
    if size % DAY_MS == 0:
        local = datetime.fromtimestamp(start / 1000, ZoneInfo(tz))
        assert (local.hour, local.minute) == (0, 0)
