"""The origin header of clean events and the copy rule (streamproc.pipeline.origin)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproc.pipeline.origin import ORIGIN_HEADER, is_copy, origin_header, parse_origin


def test_round_trip() -> None:
    origin = parse_origin([("op", b"insert"), origin_header("cdc.public.orders", 3, 1234)])
    assert origin == (b"cdc.public.orders:3", 1234)
    assert origin is not None and origin.stream == b"cdc.public.orders:3" and origin.offset == 1234
    assert parse_origin({ORIGIN_HEADER: b"t:0:7"}) == (b"t:0", 7)


@pytest.mark.parametrize(
    "value",
    [None, b"", b"t:0", b":0:1", b"t::1", b"t:0:", b"t:x:1", b"t:0:-1", b"t:0:1e3", b"t:0:" + b"9" * 30, b"x" * 400],
)
def test_not_an_origin_takes_the_keyed_path(value: bytes | None) -> None:
    assert parse_origin([(ORIGIN_HEADER, value)]) is None


def test_no_header() -> None:
    assert parse_origin(None) is None and parse_origin([("op", b"insert")]) is None


@st.composite
def owners(draw: st.DrawFn) -> list[tuple[int, list[int]]]:
    """Consumed offsets 0..n-1, each turned into one clean event or filtered, and the outputs of
    successive owners as (start, offsets written in order): each starts where the last recorded
    batch ended (everything before it was durable) and writes up to where it crashed or stopped."""
    n = draw(st.integers(1, 40))
    kept = [o for o in range(n) if draw(st.booleans())]
    out, recorded = [], 0
    for _ in range(draw(st.integers(1, 6))):
        stop = draw(st.integers(recorded, n))
        out.append((recorded, [o for o in kept if recorded <= o < stop]))
        recorded = draw(st.integers(recorded, stop))  # what it recorded before it crashed
    return out


@settings(max_examples=500)
@given(owners(), st.data())
def test_every_kept_offset_taken_once_however_owners_interleave(
    owned: list[tuple[int, list[int]]], data: st.DataObject
) -> None:
    # owners' outputs interleave (one still producing while the next began), but an owner's
    # records below the next one's start were durable before that owner wrote anything
    queues = [list(offsets) for _, offsets in owned]
    arrivals: list[int] = []
    while any(queues):
        allowed = []
        for i, q in enumerate(queues):
            if q:
                allowed.append(i)
            if i + 1 < len(owned) and q and q[0] < owned[i + 1][0]:
                break  # later owners wait for this one's durable part
        i = data.draw(st.sampled_from(allowed))
        arrivals.append(queues[i].pop(0))
    highest, taken = None, []
    for o in arrivals:
        if not is_copy(highest, o):
            taken.append(o)
            highest = o
    assert sorted(taken) == sorted(set(arrivals))  # each once, none lost


def test_a_lower_or_equal_offset_is_a_copy() -> None:
    assert not is_copy(None, 0) and not is_copy(4, 5)
    assert is_copy(5, 5) and is_copy(5, 2)
