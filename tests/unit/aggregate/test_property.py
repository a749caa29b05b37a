"""Property: whatever the order, duplicates, redelivered deltas, updates moving rows between
groups and windows and deletes, the final results equal a brute-force recomputation — from the
delivered events (events mode) or from the final rows (rows mode)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator, MutableMapping
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamproc.aggregate import AggregationSpec, Delta, Result, WindowEngine, WindowSpec
from streamproc.aggregate.result import iso_ms
from streamproc.aggregate.spec import WhereSpec
from streamproc.aggregate.upstream import upstream_step
from streamproc.aggregate.values import canon, number, out_number
from streamproc.aggregate.windows import assign

from .builders import HOUR, MINUTE, event, spec

AMOUNTS = st.one_of(st.integers(-50, 50), st.sampled_from(["1.25", "-0.5", "10", "x", "0.1"]), st.none())
ITEMS = st.lists(
    st.fixed_dictionaries({"sku": st.sampled_from(["p", "q", "r"]), "qty": st.sampled_from([1, 2, "3", "bad"])}),
    max_size=3,
)
ROW = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["a", "b", "c"]),
        "amount": AMOUNTS,
        "user": st.sampled_from(["u1", "u2", "u3"]),
        "items": ITEMS,
        "t": st.integers(0, 6 * 60).map(lambda m: m * MINUTE + 7),
    }
)
# (key, delete?, row, redeliver an earlier event?, redeliver an earlier delta?)
STEP = st.tuples(st.integers(0, 5), st.booleans(), ROW, st.integers(0, 6), st.integers(0, 6))
WINDOWS = st.sampled_from(
    [
        WindowSpec("tumbling", size_ms=HOUR),
        WindowSpec("hopping", size_ms=HOUR, step_ms=20 * MINUTE),
        WindowSpec("tumbling", size_ms=24 * HOUR),
    ]
)
WHERE = WhereSpec(field=("kind",), not_in=("c",))


class JsonTable(MutableMapping[bytes, dict[str, Any]]):
    """A table that stores JSON text, like the runtime's RocksDB tables: a value read is a fresh
    copy, so an engine that changed a value in place without assigning it back would lose it."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def __getitem__(self, key: bytes) -> dict[str, Any]:
        return json.loads(self.data[key])

    def __setitem__(self, key: bytes, value: dict[str, Any]) -> None:
        self.data[key] = json.dumps(value).encode()

    def __delitem__(self, key: bytes) -> None:
        del self.data[key]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def drive(s: AggregationSpec, events: list[tuple[int, dict[str, Any]]], redeliver: list[int]) -> list[Result]:
    """Both steps as the runtime runs them: two clean partitions (key % 2), each with its own
    offsets and watermark; earlier deltas are re-sent as ``redeliver`` says; the downstream state
    in JSON tables, read through a new engine for every delta (as the runtime does per batch)."""
    rows: dict[int, Any] = {}
    wms: dict[int, int | None] = {0: None, 1: None}
    offsets = [0, 0]
    cells, meta = JsonTable(), JsonTable()
    sent: list[Delta] = []
    out: list[Result] = []
    for (key, ev), again in zip(events, redeliver, strict=True):
        part = key % 2
        step = upstream_step(s, rows.get(key), ev, (part, offsets[part]), wms[part])
        offsets[part] += 1
        wms[part] = step.watermark_ms
        if step.row_state is None:
            rows.pop(key, None)
        else:
            rows[key] = step.row_state
        for d in step.deltas:
            out += WindowEngine(s, cells, meta, upstream_partitions=2).apply(Delta.from_json(d.to_json()))
            sent.append(d)
        eng = WindowEngine(s, cells, meta, upstream_partitions=2)
        if again and sent:
            assert eng.apply(sent[-again % len(sent)]) == []  # a redelivered delta changes nothing
        out += eng.flush_updates(None)
    return out + WindowEngine(s, cells, meta, upstream_partitions=2).end_of_input()


def finals(results: list[Result]) -> dict[tuple[str, str], dict[str, Any]]:
    """The last result per key; revisions never go down along the way."""
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for r in results:
        assert r.topic_kind == "aggregate"  # retain is long enough for everything here
        k = (r.value["group"]["kind"], r.value["window_start"])
        if k in last:
            assert r.value["revision"] >= last[k]["revision"]
        last[k] = r.value
    return last


def sessions(gap: int, docs: list[dict[str, Any]]) -> dict[tuple[str, int, int], list[dict[str, Any]]]:
    """Per kind, the events sorted by time; one closer than ``gap`` to the last joins its session."""
    cells: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    for kind in {d["kind"] for d in docs}:
        run: list[dict[str, Any]] = []
        for doc in sorted((d for d in docs if d["kind"] == kind), key=lambda d: d["t"]):
            if run and doc["t"] >= run[-1]["t"] + gap:
                cells[(kind, run[0]["t"], run[-1]["t"] + gap)] = run
                run = []
            run.append(doc)
        if run:
            cells[(kind, run[0]["t"], run[-1]["t"] + gap)] = run
    return cells


def brute(s: AggregationSpec, docs: list[dict[str, Any]], time_of: Any) -> dict[tuple[str, str], dict[str, Any]]:
    cells: dict[tuple[str, int, int], list[dict[str, Any]]] = defaultdict(list)
    kept = [d for d in docs if d["kind"] != "c"]
    if s.window.type == "session":
        cells.update(sessions(s.window.gap_ms, kept))
    for doc in kept if s.window.type != "session" else []:
        for start, end in assign(s.window, s.timezone, time_of(doc)):
            cells[(doc["kind"], start, end)].append(doc)
    out = {}
    for (kind, start, end), group in cells.items():
        nums = [number(d["amount"]) for d in group if d["amount"] is not None]
        ok = [n for n in nums if n is not None]
        weights: Counter[str] = Counter()
        bad_weights = 0
        for d in group:
            for item in d["items"]:
                w = number(item["qty"])
                if w is None:
                    bad_weights += 1
                else:
                    weights[item["sku"]] += w  # type: ignore[assignment]
        total = sum(ok, Decimal(0))
        top = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        out[(kind, iso_ms(start))] = {
            "window_end": iso_ms(end),
            "skipped": 4 * (len(nums) - len(ok)) + bad_weights,
            "metrics": {
                "n": len(group),
                "total": out_number(canon(total)),
                "mean": float(total / len(ok)) if ok else None,
                "low": out_number(canon(min(ok))) if ok else None,
                "high": out_number(canon(max(ok))) if ok else None,
                "users": len({d["user"] for d in group}),
                "top": [{"value": v, "weight": out_number(canon(Decimal(w)))} for v, w in top],
            },
        }
    return out


def comparable(values: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        k: {"window_end": v["window_end"], "skipped": v["skipped"], "metrics": v["metrics"]}
        for k, v in values.items()
        if v["metrics"]["n"]
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(STEP, max_size=40),
    st.one_of(WINDOWS, st.just(WindowSpec("session", gap_ms=30 * MINUTE))),
    st.sampled_from([0, 20 * MINUTE, 10 * HOUR]),
)
def test_events_mode_equals_brute_force_over_the_distinct_events(
    steps: list[Any], window: WindowSpec, grace: int
) -> None:
    if window.type == "session":
        grace = 10 * HOUR  # a late event may amend but not merge closed sessions: none is late here
    s = spec(window=window, grace_ms=grace, where=WHERE, retain_ms=30 * 24 * HOUR)
    positions: Counter[int] = Counter()
    delivered: list[tuple[int, dict[str, Any]]] = []
    redeliver: list[int] = []
    distinct: list[dict[str, Any]] = []
    for key, _delete, doc, again_event, again_delta in steps:
        positions[key] += 1
        ev = event(key, positions[key], doc["t"], {"id": key, **doc})
        delivered.append((key, ev))
        redeliver.append(again_delta)
        distinct.append(doc)
        if again_event and len(delivered) > 1:  # a redelivery of an earlier event of any key
            delivered.append(delivered[-again_event % len(delivered)])
            redeliver.append(0)
    results = drive(s, delivered, redeliver)
    assert comparable(finals(results)) == comparable(brute(s, distinct, lambda d: d["t"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, max_size=40), WINDOWS)
def test_rows_mode_equals_brute_force_over_the_final_rows(steps: list[Any], window: WindowSpec) -> None:
    s = spec(mode="rows", time=("t",), emit="updates", window=window, where=WHERE, retain_ms=365 * 24 * HOUR)
    positions: Counter[int] = Counter()
    current: dict[int, dict[str, Any]] = {}
    delivered: list[tuple[int, dict[str, Any]]] = []
    redeliver: list[int] = []
    for key, delete, doc, again_event, again_delta in steps:
        positions[key] += 1
        if delete:
            ev = event(key, positions[key], 0, None, op="delete", before={"id": key})
            current.pop(key, None)
        else:
            op = "update" if key in current else "insert"
            ev = event(key, positions[key], 0, {"id": key, **doc}, op=op)
            current[key] = doc
        delivered.append((key, ev))
        redeliver.append(again_delta)
        if again_event:  # the same event delivered twice (a producer retry)
            delivered.append((key, ev))
            redeliver.append(0)
    results = drive(s, delivered, redeliver)
    assert comparable(finals(results)) == comparable(brute(s, list(current.values()), lambda d: d["t"]))
