"""Combining one batch's deltas (``aggregate/combine.py``), and the protocol the runtime follows
with it (one message per repartition partition and batch, combined only past the first
``batch_size`` records of a partition after an assignment, watermarks recorded before they are
sent), simulated with crashes: the results equal one delta per event, from the dry-run engine."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from streamproc.aggregate import (
    Delta,
    Engine,
    Result,
    WindowEngine,
    WindowSpec,
    decode_messages,
    pack,
    partition_of,
    tick,
)
from streamproc.aggregate.combine import FIRST_INDEX, combine, combining_from
from streamproc.aggregate.upstream import upstream_step

from .builders import HOUR, MINUTE, event, spec


def doc(key: int, kind: str, t: int, amount: Any = 1, user: str = "u") -> dict[str, Any]:
    return {"id": key, "kind": kind, "amount": amount, "user": user, "items": [{"sku": kind, "qty": 2}], "t": t}


def deltas(s: Any, rows: list[tuple[int, str, int]], part: int = 0) -> tuple[list[Delta], int | None]:
    wm = None
    out: list[Delta] = []
    for offset, (key, kind, t) in enumerate(rows):
        step = upstream_step(s, None, event(key, 1, t, doc(key, kind, t, amount=offset)), (part, offset), wm)
        wm = step.watermark_ms
        out += step.deltas
    return out, wm


def test_deltas_of_a_group_and_window_become_one_with_their_inputs_and_count() -> None:
    s = spec(grace_ms=10 * MINUTE)
    ds, wm = deltas(s, [(1, "a", 5 * MINUTE), (2, "b", 6 * MINUTE), (3, "a", 7 * MINUTE), (4, "a", 8 * MINUTE)])
    out = combine(s, ds, wm)
    assert out is not None and [(d.group["kind"], d.events) for d in out] == [("a", 3), ("b", 1)]
    a = out[0]
    assert a.inputs["n"] == 3 and a.inputs["total"] == ["0", "2", "3"] and len(a.inputs["top"]) == 3
    assert [d.src for d in out] == [(0, 3, FIRST_INDEX), (0, 3, FIRST_INDEX + 1)]
    assert all(d.watermark_ms == wm and d.key == {} for d in out)
    assert Delta.from_json(a.to_json()) == a  # the count travels


@pytest.mark.parametrize(
    ("why", "kw", "rows"),
    [
        ("the batch closes the first window", {"grace_ms": 0}, [(1, "a", 5 * MINUTE), (2, "a", HOUR + MINUTE)]),
        ("sessions", {"window": WindowSpec("session", gap_ms=HOUR)}, [(1, "a", 5 * MINUTE)]),
    ],
)
def test_a_batch_that_cannot_be_combined_goes_per_event(why: str, kw: dict[str, Any], rows: list[Any]) -> None:
    s = spec(**kw)
    ds, wm = deltas(s, rows)
    assert combine(s, ds, wm) is None, why


def test_a_batch_that_closes_a_window_is_combined_in_segments_cut_where_it_closes() -> None:
    s = spec(grace_ms=2 * MINUTE)
    rows = [(1, "a", 5 * MINUTE), (2, "a", 10 * MINUTE), (3, "a", 61 * MINUTE), (4, "b", 62 * MINUTE)]
    rows += [(5, "a", 59 * MINUTE), (6, "a", 63 * MINUTE), (7, "a", 64 * MINUTE)]
    ds, wm = deltas(s, rows)
    out = combine(s, ds, wm)
    assert out is not None
    # 1-3 while the first hour is open (until 62 minutes): one delta per hour; 4 reaches 62 and
    # goes as it is (a segment of one); 5 is late for the first hour: as it is; 6-7 combined
    assert [(d.src, d.events, d.watermark_ms) for d in out] == [
        ((0, 2, FIRST_INDEX), 2, 61 * MINUTE),
        ((0, 2, FIRST_INDEX + 1), 1, 61 * MINUTE),
        ((0, 3, 0), 1, 62 * MINUTE),
        ((0, 4, 0), 1, 62 * MINUTE),
        ((0, 6, FIRST_INDEX), 2, 64 * MINUTE),
    ]


def _engine_results(s: Any, ds: list[Delta]) -> list[tuple[bytes, Any]]:
    engine = WindowEngine(s, {}, {}, upstream_partitions=1)
    out = [r for d in ds for r in engine.apply(d)] + engine.end_of_input()
    return sorted((r.key_bytes(), r.value_bytes()) for r in out)


@given(  # group values equal in Python but not in JSON (1, 1.0, true) are different groups
    st.lists(st.tuples(st.sampled_from(["a", "b", 1, 1.0, True]), st.integers(0, 30)), max_size=30),
    st.sampled_from([0, 10 * MINUTE]),
)
@example([("a", 13), ("a", 11), ("a", 14)], 10 * MINUTE)  # an earlier window joins a segment
@example([("a", 0), ("a", 13)], 10 * MINUTE)  # the next window joins a segment
def test_a_combined_batch_gives_every_result_of_one_delta_per_event(rows: list[Any], grace: int) -> None:
    """Times on 5-minute steps, so changes land exactly on a window's end + grace; late ones too."""
    s = spec(grace_ms=grace, retain_ms=1000 * HOUR)
    ds, wm = deltas(s, [(i, kind, step * 5 * MINUTE) for i, (kind, step) in enumerate(rows)])
    assert _engine_results(s, combine(s, ds, wm) or ds) == _engine_results(s, ds)


def test_groups_equal_in_python_but_not_in_json_are_combined_apart() -> None:
    s = spec(grace_ms=10 * MINUTE)
    kinds: list[Any] = [1, 1.0, True, "1", None, {"v": 1}, "1", 1]
    ds, wm = deltas(s, [(i, kind, (5 + i) * MINUTE) for i, kind in enumerate(kinds)])
    out = combine(s, ds, wm)
    assert out is not None
    assert [(d.group["kind"], type(d.group["kind"]), d.events) for d in out] == [
        (1, int, 2),
        (1.0, float, 1),
        (True, bool, 1),
        ("1", str, 2),
        (None, type(None), 1),
        ({"v": 1}, dict, 1),
    ]


def test_rows_mode_incomplete_and_untimed_batches_go_per_event() -> None:
    s = spec()
    ds, wm = deltas(s, [(1, "a", 5 * MINUTE)])
    assert combine(spec(mode="rows", time=("t",), emit="updates"), ds, wm) is None
    assert combine(s, [Delta("agg", {"kind": "a"}, 1, 0, {}, (0, 0, 0), incomplete=1)], wm) is None
    assert combine(s, ds, None) is None and combine(s, [], wm) is None


def test_hopping_windows_combine_only_deltas_with_the_same_windows() -> None:
    s = spec(window=WindowSpec("hopping", size_ms=HOUR, step_ms=20 * MINUTE), grace_ms=2 * HOUR)
    ds, wm = deltas(s, [(1, "a", 5 * MINUTE), (2, "a", 10 * MINUTE), (3, "a", 25 * MINUTE)])
    out = combine(s, ds, wm)
    assert out is not None and [d.events for d in out] == [2, 1]


def test_combining_starts_past_every_batch_an_earlier_owner_may_have_left_unrecorded() -> None:
    assert combining_from(100, None, None, None, 50) == 150  # nothing recorded: this batch size
    assert combining_from(90, 100, 200, None, 50) == 300  # committed behind the state: its next
    assert combining_from(120, 100, 10, 400, 20) == 400  # an older owner's bound still holds


# -- the protocol, simulated -------------------------------------------------------------------

PARTS, REPARTS = 2, 2
ROW = st.tuples(st.integers(0, 9), st.sampled_from(["a", "b", "c"]), st.integers(-30, 150), st.integers(0, 9))


class Upstream:
    """One clean partition's upstream as the runtime runs it: ``rec`` is what its state records
    (next offset, batch size, bound), written per batch and, after an assignment, before the
    first batch is sent."""

    def __init__(self, s: Any, part: int, events: list[dict[str, Any]], bs: int) -> None:
        self.s, self.part, self.events = s, part, events
        self.rows: dict[str, Any] = {}
        self.wm: int | None = None
        self.next = 0
        self.rec: dict[str, Any] = {}
        self.assign(bs)

    def assign(self, bs: int) -> None:
        """A new owner (after a crash: the state as last recorded)."""
        self.bs = bs
        r = self.rec
        self.combine_from = combining_from(self.next, r.get("next"), r.get("bs"), r.get("from"), bs)
        self.rec = {**r, "bs": bs, "from": self.combine_from}

    def batch(self, n: int, rng: random.Random) -> tuple[dict[int, list[bytes]], dict[str, Any], int | None, int]:
        """The messages per repartition partition of the next batch (at most ``n``), and the
        state it would record."""
        rows, wm = dict(self.rows), self.wm
        taken = self.events[self.next : self.next + min(n, self.bs)]
        ds: list[Delta] = []
        for i, ev in enumerate(taken):
            key = repr(ev["key"])
            step = upstream_step(self.s, rows.get(key), ev, (self.part, self.next + i), wm)
            rows[key] = step.row_state
            wm = step.watermark_ms
            ds += step.deltas
        combined = combine(self.s, ds, wm) if self.next >= self.combine_from else None
        out: dict[int, list[bytes]] = {r: [] for r in range(REPARTS)}
        for d in combined or ds:
            out[partition_of(d.group_key, REPARTS)].append(d.to_json())
        cut = rng.randint(1, 3)  # per-event deltas may be split into several messages
        msgs = {
            r: [pack("agg", v)] if combined else [pack("agg", v[i : i + cut]) for i in range(0, len(v), cut)]
            for r, v in out.items()
        }
        for r in msgs:
            if wm is not None:
                msgs[r].append(tick("agg", self.part, wm, "watermark"))
        return msgs, rows, wm, len(taken)

    def record(self, rows: dict[str, Any], wm: int | None, n: int) -> None:
        self.rows, self.wm, self.next = rows, wm, self.next + n
        self.rec = {"next": self.next, "bs": self.bs, "from": self.combine_from}


def simulate(s: Any, events: list[tuple[int, dict[str, Any]]], seed: int) -> list[Result]:
    rng = random.Random(seed)
    ups = [Upstream(s, p, [ev for part, ev in events if part == p], rng.randint(1, 6)) for p in range(PARTS)]
    down = [({}, {}) for _ in range(REPARTS)]
    results: list[Result] = []

    def deliver(r: int, messages: list[bytes]) -> None:
        cells, meta = down[r]
        for m in messages:
            engine = WindowEngine(s, cells, meta, upstream_partitions=PARTS, partition=r)
            for item in decode_messages(m):
                results.extend(engine.apply(item) if isinstance(item, Delta) else engine.on_tick(item))

    while any(u.next < len(u.events) for u in ups):
        u = rng.choice([u for u in ups if u.next < len(u.events)])
        msgs, rows, wm, n = u.batch(rng.randint(1, 8), rng)
        if rng.random() < 0.2:  # crash: a prefix of each partition's messages durable, no state
            for r, ms in msgs.items():
                deliver(r, ms[: rng.randint(0, len(ms))])
            u.assign(rng.randint(1, 6))
            continue
        for r, ms in msgs.items():
            deliver(r, ms)
        u.record(rows, wm, n)
    for r in range(REPARTS):
        cells, meta = down[r]
        results += WindowEngine(s, cells, meta, upstream_partitions=PARTS, partition=r).end_of_input()
    return results


def last(results: list[Result]) -> dict[bytes, dict[str, Any]]:
    out: dict[bytes, dict[str, Any]] = {}
    for r in results:
        out[r.key_bytes()] = r.value if r.topic_kind == "aggregate" else {"late": r.value}
    return out


def metrics_of(values: dict[bytes, dict[str, Any]]) -> dict[bytes, Any]:
    return {k: v.get("metrics", v) for k, v in values.items()}


def reference(s: Any, events: list[tuple[int, dict[str, Any]]]) -> list[Result]:
    """One delta per event, in the order given: the dry-run engine."""
    engine = Engine([s], upstream_partitions=PARTS)
    offsets = [0] * PARTS
    out: list[Result] = []
    for part, ev in events:
        out += engine.feed(ev, (part, offsets[part]))
        offsets[part] += 1
    return out + engine.end_of_input()


def stream(rows: list[Any], in_order: bool) -> list[tuple[int, dict[str, Any]]]:
    """Clean events, partition = key % 2; ``in_order``: event times never go down in a partition
    (then nothing is late in any interleaving, and every result must be equal, revisions too)."""
    if in_order:
        rows = sorted(rows, key=lambda r: r[2])
    events = []
    for i, (key, kind, minute, amount) in enumerate(rows):
        t = max(0, minute) * MINUTE + (i if not in_order else 0)
        events.append((key % PARTS, event(key, i + 1, t, doc(key, kind, t, amount=amount, user=f"u{amount}"))))
    return events


WINDOW = st.sampled_from(
    [WindowSpec("tumbling", size_ms=HOUR), WindowSpec("hopping", size_ms=HOUR, step_ms=30 * MINUTE)]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(ROW, max_size=50),
    WINDOW,
    st.sampled_from([0, 10 * MINUTE]),
    st.sampled_from(["final", "updates"]),
    st.integers(0, 10_000),
)
def test_in_order_streams_give_every_result_of_one_delta_per_event_whatever_the_crashes(
    rows: list[Any], window: WindowSpec, grace: int, emit: str, seed: int
) -> None:
    s = spec(window=window, grace_ms=grace, emit=emit, retain_ms=1000 * HOUR)
    events = stream(rows, in_order=True)
    assert last(simulate(s, events, seed)) == last(reference(s, events))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ROW, max_size=50), WINDOW, st.sampled_from([0, 10 * MINUTE, 3 * HOUR]), st.integers(0, 10_000))
def test_with_late_changes_the_values_equal_one_delta_per_event_whatever_the_crashes(
    rows: list[Any], window: WindowSpec, grace: int, seed: int
) -> None:
    """Out of order, whether a change is late depends on how the partitions interleave, so only
    the values are compared (revisions count the corrections)."""
    s = spec(window=window, grace_ms=grace, retain_ms=1000 * HOUR)
    events = stream(rows, in_order=False)
    assert metrics_of(last(simulate(s, events, seed))) == metrics_of(last(reference(s, events)))
