"""Accumulators with add AND retract, as JSON-serialisable state.

State per kind: ``count`` an int; ``sum``/``avg`` ``{"s": canonical decimal, "n": inputs}``;
``min``/``max`` a multiset ``{canonical decimal: count}``; ``count_distinct`` a multiset
``{canonical JSON: count}``; ``top_k`` ``{canonical JSON: [weight decimal, count]}``. Keeping the
multisets makes retraction exact (the minimum after removing the minimum is known).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from streamproc.aggregate.spec import MetricSpec
from streamproc.aggregate.values import CTX, canon, out_number
from streamproc.jsonutil import parse_json

__all__ = ["empty", "empty_input", "apply", "merge", "value"]


def empty(metric: MetricSpec) -> Any:
    if metric.kind == "count":
        return 0
    if metric.kind in ("sum", "avg"):
        return {"s": "0", "n": 0}
    return {}


def empty_input(metric: MetricSpec) -> Any:
    """The input of a row that contributes nothing to ``metric``."""
    return 0 if metric.kind == "count" else []


def _bump(bag: dict[str, Any], key: str, by: int) -> None:
    n = bag.get(key, 0) + by
    if n:
        bag[key] = n
    else:
        bag.pop(key, None)


def apply(metric: MetricSpec, state: Any, inputs: Any, sign: int) -> Any:
    """``state`` with ``inputs`` (a delta's input of this metric) added (sign 1) or retracted (-1)."""
    kind = metric.kind
    if kind == "count":
        return int(state) + sign * int(inputs)
    if kind in ("sum", "avg"):
        total = CTX.add(Decimal(state["s"]), CTX.multiply(Decimal(sign), _total(inputs)))
        return {"s": canon(total), "n": state["n"] + sign * len(inputs)}
    bag = dict(state)
    if kind == "top_k":
        if sign == 1 and _add_top_k(bag, inputs):
            return bag
        for item, weight in inputs:
            cur = bag.get(item, ["0", 0])
            w = CTX.add(Decimal(cur[0]), CTX.multiply(Decimal(sign), Decimal(weight)))
            if cur[1] + sign:
                bag[item] = [canon(w), cur[1] + sign]
            else:
                bag.pop(item, None)
        return bag
    for item in inputs:  # min, max, count_distinct
        _bump(bag, item, sign)
    return bag


def _add_top_k(bag: dict[str, Any], inputs: list[list[str]]) -> bool:
    """Add ``inputs`` to a top_k ``bag`` once per distinct value (a combined delta holds many of
    one value, mostly of weight 1); ``False`` (nothing changed) when a value's count is negative
    (a retraction ahead of its contribution): adding one by one then crosses zero, which drops
    the value's weight, so the caller adds them one by one."""
    grouped: dict[str, list[Any]] = {}  # value → [inputs of weight "1", other weights]
    for item, weight in inputs:
        g = grouped.get(item)
        if g is None:
            g = grouped[item] = [0, []]
        if weight == "1":
            g[0] += 1
        else:
            g[1].append(weight)
    if any(bag[item][1] < 0 for item in grouped if item in bag):
        return False
    for item, (units, others) in grouped.items():
        cur = bag.get(item)
        w = CTX.add(Decimal(cur[0]), Decimal(units)) if cur is not None else Decimal(units)
        for other in others:
            w = CTX.add(w, Decimal(other))
        bag[item] = [canon(w), (cur[1] if cur is not None else 0) + units + len(others)]
    return True


def _total(inputs: list[str]) -> Decimal:
    total = Decimal(0)
    for text in inputs:
        total = CTX.add(total, Decimal(text))
    return total


def merge(metric: MetricSpec, a: Any, b: Any) -> Any:
    """The state of the union of two inputs (session windows merging)."""
    kind = metric.kind
    if kind == "count":
        return int(a) + int(b)
    if kind in ("sum", "avg"):
        return {"s": canon(CTX.add(Decimal(a["s"]), Decimal(b["s"]))), "n": a["n"] + b["n"]}
    out = dict(a)
    if kind == "top_k":
        for item, (w, n) in b.items():
            cur = out.get(item, ["0", 0])
            out[item] = [canon(CTX.add(Decimal(cur[0]), Decimal(w))), cur[1] + n]
        return out
    for item, n in b.items():
        _bump(out, item, n)
    return out


def _value_order(item: Any) -> tuple[int, Any]:
    """Orders values of mixed JSON types: numbers, then strings, then the rest by their JSON."""
    if isinstance(item, bool) or item is None:
        return (2, str(item))
    if isinstance(item, (int, float)):
        return (0, item)
    if isinstance(item, str):
        return (1, item)
    return (3, str(item))


def value(metric: MetricSpec, state: Any) -> Any:
    """The result value: count/count_distinct int, sum/min/max exact number, avg float, top_k list."""
    kind = metric.kind
    if kind == "count":
        return int(state)
    if kind == "sum":
        return out_number(state["s"])
    if kind == "avg":
        if not state["n"]:
            return None
        return float(CTX.divide(Decimal(state["s"]), Decimal(state["n"])))
    if kind == "count_distinct":
        return len(state)
    if kind in ("min", "max"):
        if not state:
            return None
        pick = min if kind == "min" else max
        return out_number(canon(pick(Decimal(k) for k in state)))
    entries = [(Decimal(w), parse_json(item)) for item, (w, _) in state.items()]
    entries.sort(key=lambda e: (-e[0], _value_order(e[1])))
    return [{"value": v, "weight": out_number(canon(w))} for w, v in entries[: metric.k]]
