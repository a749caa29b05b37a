"""WindowEngine and upstream_step: watermarks over upstream partitions, idle close, late
changes (corrections and the late topic), redelivery, emit updates, rows mode."""

from __future__ import annotations

from typing import Any

import pytest

from streamproc.aggregate import Delta, Engine, MetricSpec, Tick, WindowEngine, WindowSpec, decode_message, tick
from streamproc.aggregate.spec import WhereSpec
from streamproc.aggregate.upstream import upstream_step

from .builders import HOUR, MINUTE, event, row, spec

COUNT = (MetricSpec("n", "count"), MetricSpec("total", "sum", ("amount",)))


def count_spec(**kw: Any) -> Any:
    return spec(metrics=COUNT, **kw)


def deltas_of(s: Any, ev: dict[str, Any], src: tuple[int, int], wm: int | None = None) -> list[Delta]:
    return upstream_step(s, None, ev, src, wm).deltas


def test_a_window_closes_only_when_every_upstream_partition_passed_end_plus_grace() -> None:
    s = count_spec(grace_ms=5 * MINUTE)
    eng = WindowEngine(s, {}, {}, upstream_partitions=2)
    [d] = deltas_of(s, event(1, 1, 10 * MINUTE, row("a", 1)), (0, 0))
    assert eng.apply(d) == []
    # partition 0 runs far ahead: partition 1 has not been heard of, nothing closes
    [d] = deltas_of(s, event(2, 1, 3 * HOUR, row("a", 1)), (0, 1), d.watermark_ms)
    assert eng.apply(d) == []
    [d1] = deltas_of(s, event(3, 1, HOUR + 4 * MINUTE, row("b", 2)), (1, 0))
    assert eng.apply(d1) == []  # min watermark 1:04 < end 1:00 + grace 0:05
    [d1] = deltas_of(s, event(4, 1, HOUR + 5 * MINUTE, row("b", 2)), (1, 1), d1.watermark_ms)
    [closed] = eng.apply(d1)
    assert closed.key == {"aggregation": "agg", "group": {"kind": "a"}, "window_start": "1970-01-01T00:00:00.000Z"}
    assert closed.value == {
        "aggregation": "agg",
        "group": {"kind": "a"},
        "window_start": "1970-01-01T00:00:00.000Z",
        "window_end": "1970-01-01T01:00:00.000Z",
        "metrics": {"n": 1, "total": 1},
        "final": True,
        "revision": 1,
        "closed_by": "watermark",
        "late_changes": 0,
        "incomplete": 0,
        "skipped": 0,
    }


def test_an_idle_partition_stops_holding_windows_open() -> None:
    s = count_spec()
    eng = WindowEngine(s, {}, {}, upstream_partitions=2)
    [d] = deltas_of(s, event(1, 1, 10 * MINUTE, row("a", 1)), (0, 0))
    eng.apply(d)
    [d] = deltas_of(s, event(2, 1, 2 * HOUR, row("a", 1)), (0, 1), d.watermark_ms)
    assert eng.apply(d) == []
    msg = decode_message(tick("agg", 1, HOUR, "idle"))
    assert isinstance(msg, Tick)
    [closed] = eng.on_tick(msg)
    assert closed.value["closed_by"] == "idle" and closed.value["window_start"] == "1970-01-01T00:00:00.000Z"
    assert eng.on_tick(msg) == []  # a repeated tick changes nothing


def test_a_late_change_corrects_the_result_and_one_beyond_retain_goes_to_the_late_topic() -> None:
    s = count_spec(retain_ms=24 * HOUR)
    engine = Engine([s])
    out = engine.feed(event(1, 1, 10 * MINUTE, row("a", 1)), (0, 0))
    out += engine.feed(event(2, 1, 2 * HOUR, row("a", 1)), (0, 1))
    assert [r.value["revision"] for r in out] == [1]
    out = engine.feed(event(3, 1, 20 * MINUTE, row("a", 5)), (0, 2))
    [corrected] = out
    assert corrected.value["revision"] == 2 and corrected.value["late_changes"] == 1
    assert corrected.value["metrics"] == {"n": 2, "total": 6} and corrected.value["final"] is True
    engine.feed(event(4, 1, 30 * HOUR, row("a", 1)), (0, 3))  # the first window leaves the state
    [late] = engine.feed(event(5, 1, 30 * MINUTE, row("a", 7, secret="x")), (0, 4))
    assert late.topic_kind == "late"
    assert late.key == {"aggregation": "agg", "key": {"id": 5}}
    assert late.value == {
        "aggregation": "agg",
        "key": {"id": 5},
        "group": {"kind": "a"},
        "window_start": "1970-01-01T00:00:00.000Z",
        "window_end": "1970-01-01T01:00:00.000Z",
        "sign": 1,
        "reason": "beyond retain",
    }
    # a late change for a window that never had data but is within retain: a closed result at once
    [fresh] = engine.feed(event(6, 1, 25 * HOUR, row("b", 1)), (0, 5))
    assert (fresh.value["revision"], fresh.value["late_changes"], fresh.value["final"]) == (1, 1, True)


def test_a_redelivered_delta_or_event_counts_once() -> None:
    s = count_spec()
    eng = WindowEngine(s, {}, {})
    [d] = deltas_of(s, event(1, 1, 10, row("a", 1)), (0, 7))
    again = Delta.from_json(d.to_json())
    assert again == d
    eng.apply(d)
    eng.apply(again)
    [result] = eng.end_of_input()
    assert result.value["metrics"]["n"] == 1
    ev = event(1, 1, 10, row("a", 1))
    first = upstream_step(s, None, ev, (0, 1))
    second = upstream_step(s, first.row_state, ev, (0, 2))
    assert second.duplicate and second.deltas == []
    # a different change at the same position (one transaction) is not a duplicate
    other = upstream_step(s, first.row_state, event(1, 1, 10, row("a", 2), op="update"), (0, 3))
    assert not other.duplicate and len(other.deltas) == 1
    stale = upstream_step(s, {"p": [5], "h": []}, ev, (0, 4))
    assert stale.duplicate


def test_where_keeps_ops_and_values() -> None:
    s = count_spec(where=WhereSpec(ops=frozenset({"insert"}), field=("kind",), not_in=("x",)))
    assert upstream_step(s, None, event(1, 1, 1, row("a", 1), op="update"), (0, 0)).filtered
    assert upstream_step(s, None, event(1, 1, 1, row("x", 1)), (0, 0)).filtered
    assert upstream_step(s, None, event(1, 1, 1, row("a", 1)), (0, 0)).deltas
    s = count_spec(where=WhereSpec(field=("kind",), in_=("a", 1)))
    assert upstream_step(s, None, event(1, 1, 1, row("b", 1)), (0, 0)).filtered
    assert upstream_step(s, None, event(1, 1, 1, {"kind": True}), (0, 0)).filtered  # True is not 1


def test_emit_updates_at_most_once_per_every_with_revisions_counting_changes() -> None:
    s = count_spec(emit="updates", every_ms=1_000)
    eng = WindowEngine(s, {}, {})
    for i in range(3):
        [d] = deltas_of(s, event(i, 1, 10 + i, row("a", 1)), (0, i))
        eng.apply(d)
    [first] = eng.flush_updates(5_000)
    assert (first.value["revision"], first.value["final"], first.value["closed_by"]) == (3, False, None)
    [d] = deltas_of(s, event(9, 1, 20, row("a", 1)), (0, 9))
    eng.apply(d)
    assert eng.flush_updates(5_500) == []  # within `every` of the last update
    [second] = eng.flush_updates(6_000)
    assert second.value["revision"] == 4 and second.value["metrics"]["n"] == 4
    assert eng.flush_updates(9_000) == []  # nothing changed
    [final] = eng.end_of_input()
    assert final.value["final"] and final.value["revision"] == 4


def test_rows_mode_counts_incomplete_events_and_keeps_the_previous_contribution() -> None:
    s = count_spec(mode="rows", time=("t",), emit="updates")
    engine = Engine([s])
    engine.feed(event(1, 1, 0, row("a", 2, t=10)), (0, 0))
    [update] = engine.feed(event(1, 2, 0, None, op="update", complete=False), (0, 1))
    assert update.value["incomplete"] == 1 and update.value["metrics"] == {"n": 1, "total": 2}
    step = upstream_step(s, None, event(2, 1, 0, None, op="update", complete=False), (0, 2))
    assert step.incomplete == 1 and step.deltas == []


def test_rows_mode_drops_buckets_older_than_retain_behind_the_newest() -> None:
    s = count_spec(mode="rows", time=("t",), emit="updates", retain_ms=2 * HOUR)
    engine = Engine([s])
    engine.feed(event(1, 1, 0, row("a", 1, t=10)), (0, 0))
    engine.feed(event(2, 1, 0, row("a", 1, t=5 * HOUR)), (0, 1))  # bucket 0 is now 5h behind
    out = engine.feed(event(1, 2, 0, row("a", 1, t=5 * HOUR + 1), op="update"), (0, 2))
    kinds = sorted(r.topic_kind for r in out)
    assert kinds == ["aggregate", "late"]  # the retraction from the dropped bucket is late
    [late] = [r for r in out if r.topic_kind == "late"]
    assert late.value["sign"] == -1 and late.value["key"] == {"id": 1}
    final = engine.end_of_input()
    assert [(r.value["window_start"], r.value["metrics"]["n"]) for r in final] == [("1970-01-01T05:00:00.000Z", 2)]


def test_an_update_moving_a_row_changes_both_windows() -> None:
    s = count_spec(mode="rows", time=("t",), emit="updates", window=WindowSpec("tumbling", size_ms=HOUR))
    engine = Engine([s])
    engine.feed(event(1, 1, 0, row("a", 3, t=10)), (0, 0))
    out = engine.feed(event(1, 2, 0, row("b", 3, t=HOUR + 10), op="update"), (0, 1))
    assert sorted((r.value["group"]["kind"], r.value["window_start"][11:16], r.value["metrics"]["n"]) for r in out) == [
        ("a", "00:00", 0),
        ("b", "01:00", 1),
    ]


def test_messages_round_trip_and_malformed_ones_are_refused() -> None:
    msg = decode_message(tick("agg", 3, 1234, "idle"))
    assert msg == Tick("agg", 3, 1234, "idle")
    for bad in (b"{}", b"not json", b'{"t": "d"}', b"[1]"):
        with pytest.raises(ValueError, match="malformed"):
            decode_message(bad)
    with pytest.raises(ValueError):
        Delta.from_json(tick("agg", 3, 1234, "idle"))


def test_results_are_deterministic() -> None:
    def run() -> list[bytes]:
        engine = Engine([spec(emit="updates")])
        out = []
        for i in range(20):
            out += engine.feed(event(i % 4, i, i * 7 * MINUTE, row("ab"[i % 2], i, f"u{i % 3}")), (0, i))
        out += engine.end_of_input()
        return [r.key_bytes() + r.value_bytes() for r in out]

    assert run() == run()


def test_the_updates_throttle_holds_across_engine_instances_on_one_state() -> None:
    s = count_spec(emit="updates", every_ms=1_000)
    cells: dict[bytes, Any] = {}
    meta: dict[bytes, Any] = {}
    [d] = deltas_of(s, event(1, 1, 10, row("a", 1)), (0, 0))
    WindowEngine(s, cells, meta).apply(d)
    assert len(WindowEngine(s, cells, meta).flush_updates(10_000)) == 1
    [d] = deltas_of(s, event(2, 1, 11, row("a", 1)), (0, 1))
    WindowEngine(s, cells, meta).apply(d)  # the runtime builds an engine per batch
    assert WindowEngine(s, cells, meta).flush_updates(10_500) == []
    [update] = WindowEngine(s, cells, meta).flush_updates(11_000)
    assert update.value["revision"] == 2
    # a clock that went back (a restart) does not hold updates back
    [d] = deltas_of(s, event(3, 1, 12, row("a", 1)), (0, 2))
    WindowEngine(s, cells, meta).apply(d)
    assert len(WindowEngine(s, cells, meta).flush_updates(5)) == 1


@pytest.mark.parametrize("t", [10**30, -(10**20), "99999-01-01", "2026-13-45", "soon", True, 1e300])
def test_times_out_of_range_or_unreadable_are_untimed_not_fatal(t: Any) -> None:
    s = count_spec(mode="rows", time=("t",), emit="updates")
    step = upstream_step(s, None, event(1, 1, 0, row("a", 1, t=t)), (0, 0))
    assert step.untimed and step.deltas == []
    events = count_spec()
    assert upstream_step(events, None, event(1, 1, 10**30, row("a", 1)), (0, 0)).untimed


def test_iso_times_with_and_without_offsets() -> None:
    from streamproc.aggregate.extract import parse_time

    assert parse_time("2026-01-01T00:00:00.250Z", "UTC") == 1_767_225_600_250
    assert parse_time("2026-01-01T01:00:00+01:00", "UTC") == 1_767_225_600_000
    assert parse_time("2026-01-01", "Europe/Berlin") == 1_767_225_600_000 - HOUR  # local midnight
    assert parse_time("2026-01-01T00:00:00", "Europe/Berlin") == 1_767_225_600_000 - HOUR


def test_late_events_for_sessions_amend_a_closed_one_start_a_closed_one_or_go_to_the_late_topic() -> None:
    s = count_spec(window=WindowSpec("session", gap_ms=10 * MINUTE), retain_ms=5 * HOUR)
    engine = Engine([s])
    out = engine.feed(event(1, 1, 0, row("a", 1)), (0, 0))
    out += engine.feed(event(2, 1, 5 * MINUTE, row("a", 1)), (0, 1))
    out += engine.feed(event(3, 1, HOUR, row("a", 1)), (0, 2))  # closes [0, 15m)
    [closed] = out
    assert (closed.value["window_end"], closed.value["metrics"]["n"]) == ("1970-01-01T00:15:00.000Z", 2)
    [amended] = engine.feed(event(4, 1, 12 * MINUTE, row("a", 2)), (0, 3))  # overlaps the closed session
    assert amended.key == closed.key
    assert (amended.value["revision"], amended.value["late_changes"], amended.value["metrics"]["n"]) == (2, 1, 3)
    assert amended.value["window_end"] == "1970-01-01T00:22:00.000Z"
    [alone] = engine.feed(event(5, 1, 30 * MINUTE, row("a", 1)), (0, 4))  # late, overlapping nothing
    assert (alone.value["window_start"], alone.value["revision"], alone.value["final"]) == (
        "1970-01-01T00:30:00.000Z",
        1,
        True,
    )
    engine.feed(event(6, 1, 10 * HOUR, row("a", 1)), (0, 5))  # the early sessions leave the state
    [late] = engine.feed(event(7, 1, 2 * MINUTE, row("a", 1)), (0, 6))
    assert late.topic_kind == "late" and late.value["reason"] == "beyond retain"
    final = engine.end_of_input()
    assert [r.value["window_start"] for r in final] == ["1970-01-01T10:00:00.000Z"]
