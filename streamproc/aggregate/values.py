"""Field values of a row: paths crossing arrays, exact numbers, canonical forms.

Numbers are exact: JSON integers and floats (by their shortest text) and decimal strings (the
decimal transform's output) become :class:`~decimal.Decimal`; a state keeps them as canonical
decimal strings (``"12.5"``, ``"-3"``), so sums never go through binary floats.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from streamproc.aggregate.spec import Path
from streamproc.jsonutil import dumps

__all__ = [
    "CTX",
    "resolve",
    "resolve_one",
    "resolve_pairs",
    "number",
    "canon",
    "canon_number",
    "out_number",
    "canon_json",
]

CTX = Context(prec=400, Emax=999_999, Emin=-999_999)
"""Arithmetic context: wide enough that sums of 100-digit inputs stay exact."""

_DECIMAL_RE = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,2})?")
_MAX_TEXT = 100
_MAX_INT = 10**100
_FLOAT_DIGITS = 15


def _leaves(node: Any, out: list[Any]) -> None:
    if isinstance(node, list):
        for item in node:
            _leaves(item, out)
    elif node is not None:
        out.append(node)


def _walk(node: Any, path: Path, i: int, out: list[Any]) -> None:
    if i == len(path):
        _leaves(node, out)
        return
    if isinstance(node, list):
        seg = path[i]
        if seg.isdigit():  # a numeric segment indexes a list
            if int(seg) < len(node):
                _walk(node[int(seg)], path, i + 1, out)
            return
        for item in node:
            _walk(item, path, i, out)
        return
    if not isinstance(node, dict):
        return
    seg = path[i]
    if seg == "*":
        for value in node.values():
            _walk(value, path, i + 1, out)
    elif seg in node:
        _walk(node[seg], path, i + 1, out)


def resolve(doc: Any, path: Path) -> list[Any]:
    """Every non-null value at ``path``, arrays crossed implicitly (elements of a list at the end too)."""
    node = doc
    for seg in path:  # the common case, objects all the way, without the recursive walk
        if type(node) is not dict or seg == "*":
            break
        node = node.get(seg)
        if node is None:
            return []
    else:
        if node is not None and type(node) is not list:
            return [node]
    out: list[Any] = []
    _walk(doc, path, 0, out)
    return out


def resolve_one(doc: Any, path: Path) -> Any:
    """The value at ``path`` as one JSON value: ``None`` if absent, the value, or a list of several."""
    values = resolve(doc, path)
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _elements(node: Any, path: Path, out: list[Any]) -> None:
    """The nodes at ``path`` (a common prefix), lists flattened into their elements."""
    if not path:
        if isinstance(node, list):
            for item in node:
                _elements(item, (), out)
        elif node is not None:
            out.append(node)
        return
    if isinstance(node, list):
        for item in node:
            _elements(item, path, out)
    elif isinstance(node, dict):
        seg = path[0]
        for value in node.values() if seg == "*" else ([node[seg]] if seg in node else []):
            _elements(value, path[1:], out)


def resolve_pairs(doc: Any, field: Path, weight: Path | None) -> list[tuple[Any, Any]]:
    """``(value, weight)`` pairs: each value of ``field`` with the weight of the same array element
    (the paths' common prefix is the element), weight 1 without a weight path."""
    if weight is None:
        return [(v, 1) for v in resolve(doc, field)]
    n = 0
    while n < min(len(field), len(weight)) - 1 and field[n] == weight[n]:
        n += 1
    pairs: list[tuple[Any, Any]] = []
    nodes: list[Any] = []
    _elements(doc, field[:n], nodes)
    for node in nodes:
        values, weights = resolve(node, field[n:]), resolve(node, weight[n:])
        if len(weights) == 1:
            pairs += [(v, weights[0]) for v in values]
        elif len(weights) == len(values):
            pairs += list(zip(values, weights, strict=True))
        else:  # no weight, or several weights not one per value: each value weighs nothing known
            pairs += [(v, None) for v in values]
    return pairs


def number(value: Any) -> Decimal | None:
    """``value`` as an exact decimal, or ``None`` when it is not a number (bool, text, object…)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value) if -_MAX_INT < value < _MAX_INT else None
    if isinstance(value, float):
        return Decimal(repr(value)) if value == value and abs(value) != float("inf") else None
    if isinstance(value, str) and len(value) <= _MAX_TEXT and _DECIMAL_RE.fullmatch(value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def canon(d: Decimal) -> str:
    """The canonical text of a decimal: no exponent, no trailing zeros, ``"0"`` for any zero."""
    if d.is_zero():
        return "0"
    text = format(d.normalize(CTX), "f")
    return text


_PLAIN_RE = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")


def canon_number(value: Any) -> str | None:
    """``canon(number(value))`` (``None`` when it is not a number), without a decimal for the
    common inputs: an integer in bounds, and a plain decimal text (``"12.50"``)."""
    if type(value) is int:
        return str(value) if -_MAX_INT < value < _MAX_INT else None
    if type(value) is str and len(value) <= _MAX_TEXT:
        plain = _PLAIN_RE.fullmatch(value.strip())
        if plain is not None:
            sign, whole, fraction = plain.groups()
            whole = whole.lstrip("0")
            fraction = (fraction or "").rstrip("0")
            if not whole and not fraction:
                return "0"
            return sign + (whole or "0") + ("." + fraction if fraction else "")
    d = number(value)
    return None if d is None else canon(d)


def out_number(text: str) -> int | float | str:
    """A canonical decimal as a result value: an int when integral, a float when its text has at
    most 15 significant digits (so the JSON text is exact), else the exact decimal string."""
    if "." not in text:
        return int(text)
    digits = len(text.replace("-", "").replace(".", "").lstrip("0"))
    return float(text) if digits <= _FLOAT_DIGITS else text


def canon_json(value: Any) -> str:
    """A JSON value as a canonical string (a multiset key)."""
    return dumps(value).decode()
