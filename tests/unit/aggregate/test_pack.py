"""Packed repartition messages (``aggregate.pack``): the upstream sends a batch's deltas for one
repartition partition as one message. Each delta keeps its own ``src``, so whatever the pack
boundaries — and they differ when a crashed batch is sent again — the downstream applies every
delta once and the results equal those of one delta per message."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamproc.aggregate import Delta, Result, Tick, WindowEngine, decode_messages, pack, partition_of, tick
from streamproc.aggregate.upstream import upstream_step

from .builders import HOUR, MINUTE, event, spec

KINDS = st.sampled_from(["a", "b", "c", "d"])
# (key, kind, minute of the event, amount)
EVENTS = st.lists(st.tuples(st.integers(0, 7), KINDS, st.integers(0, 4 * 60), st.integers(-5, 50)), max_size=60)


def deltas_of(events: list[tuple[int, str, int, int]], rows: bool) -> list[Delta]:
    """The deltas upstream sends for ``events`` on one clean partition, in offset order."""
    s = spec(mode="rows", time=("t",), emit="updates") if rows else spec()
    state: dict[int, Any] = {}
    positions: dict[int, int] = {}
    wm = None
    out: list[Delta] = []
    for offset, (key, kind, minute, amount) in enumerate(events):
        positions[key] = positions.get(key, 0) + 1
        doc = {"id": key, "kind": kind, "amount": amount, "user": f"u{key}", "items": [], "t": minute * MINUTE}
        op = "update" if rows and key in state else "insert"
        ev = event(key, positions[key], minute * MINUTE, doc, op=op)
        step = upstream_step(s, state.get(key), ev, (0, offset), wm)
        state[key] = step.row_state
        wm = step.watermark_ms
        out += step.deltas
    return out


def run(messages: list[bytes], rows: bool) -> dict[bytes, bytes]:
    """The downstream over ``messages`` (one engine per message, as per batch): the last result per key."""
    s = spec(mode="rows", time=("t",), emit="updates") if rows else spec()
    cells: dict[bytes, Any] = {}
    meta: dict[bytes, Any] = {}
    results: list[Result] = []
    for data in messages:
        engine = WindowEngine(s, cells, meta)
        for item in decode_messages(data):
            results += engine.apply(item) if isinstance(item, Delta) else engine.on_tick(item)
        results += engine.flush_updates(None)
    results += WindowEngine(s, cells, meta).end_of_input()
    return {r.key_bytes(): r.value_bytes() for r in results}


def packs(encoded: list[bytes], cuts: list[int]) -> list[bytes]:
    """``encoded`` packed in runs cut at ``cuts``."""
    bounds = sorted({c % (len(encoded) + 1) for c in cuts} | {0, len(encoded)})
    return [pack("agg", encoded[a:b]) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EVENTS, st.booleans(), st.lists(st.integers(0, 80), max_size=6), st.integers(0, 80), st.integers(0, 80))
def test_packed_with_any_boundaries_and_a_resent_suffix_equals_one_delta_per_message(
    events: list[tuple[int, str, int, int]], rows: bool, cuts: list[int], crash_at: int, resend_from: int
) -> None:
    encoded = [d.to_json() for d in deltas_of(events, rows)]
    single = run(encoded + [tick("agg", 0, 10 * HOUR, "watermark")], rows)
    first = packs(encoded, cuts)
    crash = crash_at % (len(first) + 1)  # packs durable before the crash
    # the batch is sent again from an earlier delta, cut differently: some deltas twice
    again = encoded[min(resend_from % (len(encoded) + 1), sum(len(decode_messages(p)) for p in first[:crash])) :]
    resent = packs(again, [c + 3 for c in cuts])
    assert run(first[:crash] + resent + [tick("agg", 0, 10 * HOUR, "watermark")], rows) == single


def test_a_pack_round_trips_in_order_and_ticks_and_single_deltas_still_decode() -> None:
    ds = deltas_of([(1, "a", 5, 3), (2, "b", 70, 4), (1, "a", 6, 5)], rows=False)
    assert decode_messages(pack("agg", [d.to_json() for d in ds])) == ds
    assert decode_messages(ds[0].to_json()) == [ds[0]]
    assert decode_messages(tick("agg", 2, 99, "idle")) == [Tick("agg", 2, 99, "idle")]
    assert decode_messages(pack("agg", [])) == []


@pytest.mark.parametrize(
    "bad",
    [
        b'{"t":"b","a":"agg"}',
        b'{"t":"b","a":"agg","d":{}}',
        b'{"t":"b","a":"agg","d":[{"t":"d"}]}',
        b'{"t":"b","a":"agg","d":[{"t":"w","a":"agg","p":0,"wm":1,"by":"idle"}]}',
        b'{"t":"b","a":"agg","d":[1]}',
        b'{"t":"w","a":"agg"}',
        b"[]",
        b"not json",
    ],
)
def test_a_malformed_pack_is_refused_whole(bad: bytes) -> None:
    with pytest.raises(ValueError, match="^malformed repartition message$"):
        decode_messages(bad)


def test_partition_of_spreads_group_keys_and_is_stable() -> None:
    keys = [f'["agg",["r{i}"]]'.encode() for i in range(400)]
    counts = [0] * 4
    for k in keys:
        counts[partition_of(k, 4)] += 1
        assert partition_of(k, 4) == partition_of(k, 4)
    assert min(counts) > 60, counts
    assert partition_of(b'["agg",["r1"]]', 1) == 0
