"""JavaScript's ``JSON.stringify`` emulated: documents as the Atlas triggers' JavaScript printed them.

Used by the trigger-compatible S3 layout (``layout.py``) for object bodies, SQS message bodies and
non-string document ids. :func:`js_json` writes compact UTF-8 JSON with non-ASCII kept, integral
numbers without ``.0`` and other floats as ECMAScript's Number::toString spells them
(:func:`js_number`); orjson does the work, and integers beyond 64 bits or lone surrogates take an
exact, slower path. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

__all__ = ["js_json", "js_number"]


def js_number(x: float) -> str:
    """A float as ECMAScript's Number::toString prints it (shortest round-trip digits)."""
    if not math.isfinite(x):
        return "null"
    if x == 0:
        return "0"
    if x < 0:
        return "-" + js_number(-x)
    mant, _, exp = repr(x).partition("e")
    ip, _, fp = mant.partition(".")
    raw = ip + fp
    stripped = raw.lstrip("0")
    n = len(ip) + (int(exp) if exp else 0) - (len(raw) - len(stripped))
    digits = stripped.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return f"{digits[:n]}.{digits[n:]}"
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    head = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{head}e{sign}{abs(e)}"


def _js_float(x: float) -> Any:
    if x.is_integer() and abs(x) < 1e21:
        return int(x)
    return orjson.Fragment(js_number(x).encode())


def _js_prepare(value: Any) -> tuple[Any, bool]:
    """``value`` with floats in JavaScript's spelling; ``changed`` False when nothing differed."""
    t = type(value)
    if t is float:
        return _js_float(value), True
    if t is dict:
        out: dict[Any, Any] | None = None
        for k, v in value.items():
            nv, ch = _js_prepare(v)
            if ch and out is None:
                out = dict(value)
            if out is not None:
                out[k] = nv
        return (out, True) if out is not None else (value, False)
    if t is list:
        lst: list[Any] | None = None
        for i, v in enumerate(value):
            nv, ch = _js_prepare(v)
            if ch and lst is None:
                lst = list(value)
            if lst is not None:
                lst[i] = nv
        return (lst, True) if lst is not None else (value, False)
    return value, False


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _js_slow(value: Any, out: list[str]) -> None:
    if value is None or value is True or value is False:
        out.append("null" if value is None else ("true" if value else "false"))
    elif isinstance(value, str):
        out.append(_json_str(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(js_number(value) if not (value.is_integer() and abs(value) < 1e21) else str(int(value)))
    elif isinstance(value, dict):
        out.append("{")
        for i, (k, v) in enumerate(value.items()):
            out.append(("," if i else "") + _json_str(str(k)) + ":")
            _js_slow(v, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _js_slow(v, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _json_str(s: str) -> str:
    import json

    text = json.dumps(s, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def js_json(value: Any) -> bytes:
    """UTF-8 JSON as JavaScript's ``JSON.stringify(value)`` printed it: compact, non-ASCII kept,
    control characters escaped, integral numbers without ``.0``, lone surrogates as ``\\uXXXX``.
    Integers beyond 64 bits are written exactly (JavaScript would have rounded them)."""
    prepared, _ = _js_prepare(value)
    try:
        return orjson.dumps(prepared)
    except TypeError:  # integers beyond 64 bits or lone surrogates: the exact, slower path
        out: list[str] = []
        _js_slow(value, out)
        return "".join(out).encode()
