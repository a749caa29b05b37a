"""Every metric with add and retract, exact numbers, non-numeric values counted as skipped."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from streamproc.aggregate import Engine, MetricSpec, WindowSpec
from streamproc.aggregate import metrics as M
from streamproc.aggregate.values import canon, canon_number, number, out_number, resolve, resolve_pairs

from .builders import ALL_METRICS, HOUR, event, row, spec

ROWS = spec(mode="rows", time=("t",), window=WindowSpec("tumbling", size_ms=HOUR), emit="updates")


def metric_values(results: list[Any]) -> dict[str, Any]:
    return dict(results[-1].value["metrics"])


def test_every_metric_adds_and_retracts_exactly() -> None:
    engine = Engine([ROWS])
    items_a = [{"sku": "x", "qty": 2}, {"sku": "y", "qty": "1.5"}]
    out = engine.feed(event(1, 1, 0, row("k", "10.10", "u1", t=5, items=items_a)), (0, 0))
    out += engine.feed(event(2, 1, 0, row("k", 3, "u2", t=6, items=[{"sku": "y", "qty": 4}])), (0, 1))
    out += engine.feed(event(3, 1, 0, row("k", 0.5, "u1", t=7, items=[])), (0, 2))
    assert metric_values(out) == {
        "n": 3,
        "total": 13.6,
        "mean": pytest.approx(13.6 / 3),
        "low": 0.5,
        "high": 10.1,
        "users": 2,
        "top": [{"value": "y", "weight": 5.5}, {"value": "x", "weight": 2}],
    }
    # retract the maximum and the only 'x' (an update moving row 1 to another group) and a delete
    out = engine.feed(event(1, 2, 0, row("other", "10.10", "u1", t=5, items=items_a), op="update"), (0, 3))
    out += engine.feed(event(3, 2, 0, None, op="delete", before={"id": 3}), (0, 4))
    by_group = {r.value["group"]["kind"]: r.value["metrics"] for r in out}
    assert by_group["k"] == {
        "n": 1,
        "total": 3,
        "mean": 3.0,
        "low": 3,
        "high": 3,
        "users": 1,
        "top": [{"value": "y", "weight": 4}],
    }
    assert by_group["other"]["n"] == 1 and by_group["other"]["high"] == 10.1


def test_retracting_everything_leaves_empty_values() -> None:
    engine = Engine([ROWS])
    engine.feed(event(1, 1, 0, row("k", 7, t=5)), (0, 0))
    out = engine.feed(event(1, 2, 0, None, op="delete"), (0, 1))
    assert out[-1].value["metrics"] == {
        "n": 0,
        "total": 0,
        "mean": None,
        "low": None,
        "high": None,
        "users": 0,
        "top": [],
    }
    assert out[-1].value["revision"] == 2  # revisions count changes and never go down


def test_non_numeric_values_are_skipped_not_fatal() -> None:
    engine = Engine([spec()])
    engine.feed(event(1, 1, 10, row("k", "12.5x", items=[{"sku": "x", "qty": "many"}])), (0, 0))
    engine.feed(event(2, 1, 20, row("k", {"$numberDecimal": "1"}, items=[{"sku": "x", "qty": 1}])), (0, 1))
    engine.feed(event(3, 1, 30, row("k", True)), (0, 2))
    engine.feed(event(4, 1, 40, row("k", "2.25")), (0, 3))
    [result] = engine.end_of_input()
    # 3 non-numeric amounts x 4 numeric metrics, 1 non-numeric weight
    assert result.value["skipped"] == 13
    assert result.value["metrics"]["n"] == 4
    assert result.value["metrics"]["total"] == 2.25
    assert result.value["metrics"]["top"] == [{"value": "x", "weight": 1}]


def test_sums_are_exact_decimals() -> None:
    engine = Engine([spec(metrics=(MetricSpec("total", "sum", ("amount",)),))])
    for i in range(10):
        engine.feed(event(i, 1, i, row("k", 0.1)), (0, i))
    engine.feed(event(20, 1, 20, row("k", "12345678901234567890.000000001")), (0, 20))
    [result] = engine.end_of_input()
    assert result.value["metrics"]["total"] == "12345678901234567891.000000001"  # exact, as a string
    tenth = number("0.1")
    assert tenth is not None and out_number(canon(tenth * 10)) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, "1"), (-0.0, "0"), ("1.500", "1.5"), ("1e3", "1000"), (2.5, "2.5"), ("abc", None), (True, None), (None, None)],
)
def test_numbers(value: Any, expected: str | None) -> None:
    d = number(value)
    assert (canon(d) if d is not None else None) == expected


def test_top_k_pairs_values_with_the_weight_of_their_own_element() -> None:
    doc = {"items": [{"sku": "a", "quantity": 2}, {"sku": "b", "quantity": 5}, {"sku": "c"}]}
    assert resolve_pairs(doc, ("items", "sku"), ("items", "quantity")) == [("a", 2), ("b", 5), ("c", None)]
    assert resolve_pairs(doc, ("items", "sku"), None) == [("a", 1), ("b", 1), ("c", 1)]


def test_top_k_orders_by_weight_then_value_and_keeps_k() -> None:
    m = MetricSpec("top", "top_k", ("v",), k=3)
    state = M.empty(m)
    state = M.apply(m, state, [['"b"', "2"], ['"a"', "2"], ['"c"', "5"], ['"d"', "1"]], 1)
    assert M.value(m, state) == [{"value": "c", "weight": 5}, {"value": "a", "weight": 2}, {"value": "b", "weight": 2}]
    state = M.apply(m, state, [['"c"', "5"]], -1)
    assert M.value(m, state) == [{"value": "a", "weight": 2}, {"value": "b", "weight": 2}, {"value": "d", "weight": 1}]


@pytest.mark.parametrize("metric", ALL_METRICS, ids=lambda m: m.kind)
def test_merge_equals_adding_both(metric: MetricSpec) -> None:
    inputs = {
        "count": (2, 3),
        "sum": (["1.5", "2"], ["3"]),
        "avg": (["1.5", "2"], ["3"]),
        "min": (["1.5", "2"], ["-3"]),
        "max": (["1.5", "2"], ["3"]),
        "count_distinct": (['"a"', '"b"'], ['"b"', '"c"']),
        "top_k": ([['"a"', "1"]], [['"a"', "2"], ['"b"', "1"]]),
    }[metric.kind]
    a = M.apply(metric, M.empty(metric), inputs[0], 1)
    b = M.apply(metric, M.empty(metric), inputs[1], 1)
    both = M.apply(metric, a, inputs[1], 1)
    assert M.value(metric, M.merge(metric, a, b)) == M.value(metric, both)


@pytest.mark.parametrize("bad", [10**100, "1e999", "9" * 101])
def test_numbers_beyond_the_bounds_are_skipped(bad: Any) -> None:
    assert number(bad) is None


_TOP = MetricSpec("top", "top_k", ("v",), k=3)
_WEIGHTS = st.sampled_from(["1", "1", "1", "2", "0.5", "-1", "0"])
_INPUTS = st.lists(st.tuples(st.sampled_from(['"a"', '"b"', '"c"']), _WEIGHTS).map(list), max_size=12)


@given(before=st.lists(st.tuples(_INPUTS, st.sampled_from([1, -1])), max_size=4), batch=_INPUTS)
def test_top_k_adds_a_combined_input_as_one_by_one(
    before: list[tuple[list[list[str]], int]], batch: list[list[str]]
) -> None:
    """A combined delta's top_k input is added once per distinct value: the state equals adding its
    inputs one by one, also over counts a retraction made negative (then it adds one by one)."""
    state = M.empty(_TOP)
    for inputs, sign in before:
        state = M.apply(_TOP, state, inputs, sign)
    one_by_one = dict(state)  # the documented state, value by value
    for item, weight in batch:
        w, n = one_by_one.get(item, ["0", 0])
        if n + 1:
            one_by_one[item] = [canon(Decimal(w) + Decimal(weight)), n + 1]
        else:
            one_by_one.pop(item)
    assert M.apply(_TOP, state, batch, 1) == one_by_one


def _reference(node: Any, path: tuple[str, ...]) -> list[Any]:
    """The path semantics as documented in values.py: arrays crossed implicitly, ``*`` every
    member, a numeric segment indexes a list, nulls left out, lists at the end flattened."""
    if not path:
        if isinstance(node, list):
            return [leaf for item in node for leaf in _reference(item, ())]
        return [] if node is None else [node]
    seg, rest = path[0], path[1:]
    if isinstance(node, list):
        if seg.isdigit():
            return _reference(node[int(seg)], rest) if int(seg) < len(node) else []
        return [leaf for item in node for leaf in _reference(item, path)]
    if not isinstance(node, dict):
        return []
    if seg == "*":
        return [leaf for value in node.values() for leaf in _reference(value, rest)]
    return _reference(node[seg], rest) if seg in node else []


_KEYS = st.sampled_from(["a", "b", "0", "*"])
_JSON = st.recursive(
    st.none() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=10,
)


@given(doc=_JSON, path=st.lists(_KEYS, max_size=3).map(tuple))
def test_resolve_follows_the_path_semantics(doc: Any, path: tuple[str, ...]) -> None:
    assert resolve(doc, path) == _reference(doc, path)


_NUMBERISH = (
    st.integers()
    | st.floats()
    | st.booleans()
    | st.none()
    | st.from_regex(r"\s?-?[0-9٣]{0,4}(\.[0-9]{0,4})?([eE][+-]?[0-9]{1,3})?\s?", fullmatch=True)
    | st.text(max_size=6)
    | st.just("1" * 101)
)


@given(_NUMBERISH)
@example("12.50")
@example(" -0.00 ")
@example("007.0")
@example("-10")
@example("1e3")
def test_canon_number_is_canon_of_number(value: Any) -> None:
    d = number(value)
    assert canon_number(value) == (None if d is None else canon(d))
