"""Strict JSON text for the decoders: what a wire byte string may become, and what it may not.

:func:`parse_json` is the one parser every decoder uses (wire values and keys, the JSON strings
inside Debezium MongoDB and mongo-kafka events, dump lines). It guarantees that the result is
plain, strict JSON that every later stage can encode again:

* **UTF-8 only.** Invalid UTF-8 and escaped lone UTF-16 surrogates (``"\\ud800"``, which no
  UTF-8 encoder accepts) are errors, not values.
* **Exact numbers, bounded.** Integers keep every digit (orjson turns those beyond 64 bits into
  floats, so text with a run of 20 digits goes to :mod:`json`); a number literal with more than
  :data:`MAX_NUMBER_DIGITS` digits is an error (converting longer ones costs quadratic time).
* **No non-finite floats.** JSON has no NaN or Infinity. The bare ``NaN``/``Infinity``/
  ``-Infinity`` tokens that Java-style writers emit, and number literals beyond the double range
  (``1e400``), become the *strings* ``"NaN"``, ``"Infinity"``, ``"-Infinity"``: the spelling of
  Extended JSON's ``$numberDouble`` and of Java, so the value survives and stays strict JSON.
  :func:`finite` applies the same rule to floats from other decoders (Avro, BSON).
* **Bounded nesting.** A text nested deeper than ``max_depth`` arrays/objects is an error that
  names the limit, checked before any recursive step can exhaust the stack.

Every error is a :class:`JSONTextError` (a :class:`ValueError`) whose message names the kind of
problem and a byte position at most, never input text.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from streamproc.jsonutil import has_long_integer

__all__ = [
    "MAX_DEPTH",
    "MAX_NUMBER_DIGITS",
    "NON_FINITE",
    "JSONTextError",
    "JSONLimitError",
    "JSONDepthError",
    "parse_json",
    "finite",
    "check_plain",
    "depth_exceeds",
]

#: Default nesting limit of a JSON text: MongoDB itself allows 100 levels in a document, and a
#: Kafka Connect schema describes each level with two (a struct and its field list).
MAX_DEPTH = 200
#: Longest accepted number literal (PostgreSQL's NUMERIC precision limit is 1000 digits).
MAX_NUMBER_DIGITS = 1000
#: Non-finite float → its string spelling.
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONSTANTS = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity"}


class JSONTextError(ValueError):
    """Not acceptable JSON text; the message names the problem (and a position), never data."""


class JSONLimitError(JSONTextError):
    """Well-formed text that is refused: too deep, a number too long, a lone surrogate."""


class JSONDepthError(JSONLimitError):
    """Nested deeper than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"nested deeper than {limit} levels (the nesting limit)")
        self.limit = limit


def finite(value: float) -> float | str:
    """``value`` when finite, else ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``."""
    if value - value == 0:
        return value
    return NON_FINITE[repr(value)]


def _parse_int(text: str) -> int:
    if len(text) - (text[0] == "-") > MAX_NUMBER_DIGITS:
        raise JSONLimitError(f"a number has more than {MAX_NUMBER_DIGITS} digits (the limit)")
    return int(text)


def _parse_float(text: str) -> float | str:
    if len(text) > MAX_NUMBER_DIGITS + 8:
        raise JSONLimitError(f"a number has more than {MAX_NUMBER_DIGITS} digits (the limit)")
    return finite(float(text))


def _constant(token: str) -> str:
    return _CONSTANTS[token]


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` arrays/objects (iterative; stops at the first)."""
    t = type(value)
    if t is not dict and t is not list:
        return False
    if limit < 1:
        return True
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        for child in node.values() if type(node) is dict else node:
            tc = type(child)
            if tc is dict or tc is list:
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


def check_plain(value: Any, max_depth: int = MAX_DEPTH) -> Any:
    """``value`` (JSON parsed elsewhere) made strict like :func:`parse_json`'s results: the nesting
    limit enforced, strings with lone surrogates refused, non-finite floats spelled as strings.
    A container is copied only where something in it changes."""
    if depth_exceeds(value, max_depth):
        raise JSONDepthError(max_depth)
    return _strict(value)


def _strict(value: Any) -> Any:
    t = type(value)
    if t is str:
        if _SURROGATE.search(value):
            raise JSONLimitError("a string holds a lone UTF-16 surrogate (not Unicode text)")
        return value
    if t is float:
        return finite(value)
    if t is dict:
        out = None
        for k, v in value.items():
            if type(k) is str and _SURROGATE.search(k):
                raise JSONLimitError("a key holds a lone UTF-16 surrogate (not Unicode text)")
            new = _strict(v)
            if new is not v:
                if out is None:
                    out = dict(value)
                out[k] = new
        return value if out is None else out
    if t is list:
        items = None
        for i, v in enumerate(value):
            new = _strict(v)
            if new is not v:
                if items is None:
                    items = list(value)
                items[i] = new
        return value if items is None else items
    return value


def _orjson_depth() -> int | None:
    """The deepest nesting orjson serialises (254 in the pinned versions), or ``None`` if unclear."""

    def nest(n: int) -> Any:
        value: Any = []
        for _ in range(n - 1):
            value = [value]
        return value

    for depth in range(250, 260):
        try:
            orjson.dumps(nest(depth + 1))
        except orjson.JSONEncodeError:
            try:
                orjson.dumps(nest(depth))
            except orjson.JSONEncodeError:  # pragma: no cover - not monotone: do not rely on it
                return None
            return depth
    return None  # pragma: no cover


_ORJSON_DEPTH = _orjson_depth()


def _check_depth(value: Any, raw: bytes, max_depth: int, fast: bool) -> None:
    """Raise :class:`JSONDepthError` when ``value`` (parsed from ``raw``) is too deep.

    Text with at most ``max_depth`` brackets cannot be. Otherwise, for orjson's own results
    (integers within 64 bits, finite floats, valid text: nothing orjson cannot serialise), the
    check runs in C: orjson refuses to serialise more than ``_ORJSON_DEPTH`` levels, so ``value``
    wrapped in ``_ORJSON_DEPTH - max_depth`` lists serialises exactly when it is shallow enough.
    A walk in Python is the fallback (about four times slower)."""
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return
    limit = _ORJSON_DEPTH
    if fast and limit is not None and max_depth <= limit:
        probe = value
        for _ in range(limit - max_depth):
            probe = [probe]
        try:
            orjson.dumps(probe)
        except orjson.JSONEncodeError:
            raise JSONDepthError(max_depth) from None
        return
    if depth_exceeds(value, max_depth):
        raise JSONDepthError(max_depth)


def _slow(raw: bytes, max_depth: int) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONTextError(f"invalid UTF-8 at byte {exc.start}") from None
    try:
        value = json.loads(text, parse_constant=_constant, parse_int=_parse_int, parse_float=_parse_float)
    except JSONTextError:
        raise
    except json.JSONDecodeError as exc:
        raise JSONTextError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise JSONDepthError(max_depth) from None
    except ValueError:  # an int conversion limit or similar: no detail, it may quote the text
        raise JSONLimitError("a number cannot be converted") from None
    _check_depth(value, raw, max_depth, fast=False)
    if _SURROGATE_ESCAPE.search(raw):
        value = _strict(value)
    return value


def parse_json(data: bytes | bytearray | memoryview | str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text strictly (see the module docstring); raises :class:`JSONTextError`."""
    if isinstance(data, str):
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError:
            raise JSONLimitError("the text holds a lone UTF-16 surrogate (not Unicode text)") from None
    elif isinstance(data, bytes):
        raw = data
    else:
        raw = bytes(data)
    if has_long_integer(raw):
        return _slow(raw, max_depth)
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _slow(raw, max_depth)
    _check_depth(value, raw, max_depth, fast=True)
    return value
