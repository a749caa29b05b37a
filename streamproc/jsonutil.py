"""Fast JSON encode/decode with exact big integers: orjson first, the standard library as fallback."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["dumps", "loads", "dumps_str", "parse_json", "json_type"]

_OPTS = orjson.OPT_NON_STR_KEYS


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON. Integers beyond 64 bits fall back to the standard library (exact)."""
    try:
        return orjson.dumps(obj, option=_OPTS)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def dumps_str(obj: Any) -> str:
    return dumps(obj).decode()


_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_RUN20 = b"0" * 20
_NEG19 = b"-" + b"0" * 19
_RUN19 = b"0" * 19
_QUOTED_RUN = b'"' + _RUN19  # digits just after a quote: a string's, never a number token's
_NOT_DIGIT = re.compile(rb"[^0]")  # in the translated text
_TOKEN = frozenset(b"0123456789.eE+-")
_SPACE = frozenset(b" \t\r\n")
_VALUE_START = frozenset(b":,[")


def has_long_integer(raw: bytes) -> bool:
    """Whether ``raw`` may hold a number token with a run of 20 digits (or a minus and 19): an
    integer orjson cannot keep exactly (beyond 64 bits), or a literal the strict parsers bound.
    Digit runs are found first (in C); one counts when, back over number characters and
    whitespace, the text starts or a value does (``:``, ``,`` or ``[``). Long digit runs inside
    strings (identifiers, hex ids) keep the fast parser; one that looks like a value there only
    costs the exact parser. Each character is walked back over at most once. Runs that start a
    string (ids, order numbers) are ruled out first without the walk, all at once (in C)."""
    scan = raw.translate(_DIGITS)
    if _RUN20 not in scan and _NEG19 not in scan:
        return False
    rest = scan.replace(_QUOTED_RUN, b'"')  # creates no run: the quote stays before what follows
    if _RUN20 not in rest and _NEG19 not in rest:
        return False
    floor = 0  # the end of the last run looked at: a walk reaching it is in that run's token
    size = len(scan)
    while (start := scan.find(_RUN19, floor)) >= 0:
        after = _NOT_DIGIT.search(scan, start + 19)
        end = size if after is None else after.start()
        if end - start >= 20 or (start > 0 and raw[start - 1] == 0x2D):  # 0x2D: "-"
            pos = start
            while pos > floor and raw[pos - 1] in _TOKEN:
                pos -= 1
            if pos > floor or floor == 0:
                while pos > 0 and raw[pos - 1] in _SPACE:
                    pos -= 1
                if pos == 0 or raw[pos - 1] in _VALUE_START:
                    return True
        floor = end
    return False


def _non_finite(_token: str) -> None:
    return None


def _parse_slow(data: bytes | str) -> Any:
    return json.loads(data, parse_constant=_non_finite)


def parse_json(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON text exactly (big integers kept, ``NaN``/``Infinity`` tokens → ``None``).

    orjson turns integers beyond 64 bits into floats, so text with a number token of 20 digits
    (or a minus and 19) goes to the standard library (:func:`has_long_integer`). Raises :class:`ValueError` (a
    :class:`json.JSONDecodeError` carrying only a position, or a :class:`UnicodeDecodeError`)
    when the text is not JSON.
    """
    if isinstance(data, str):
        try:
            raw = data.encode()
        except UnicodeEncodeError:  # lone surrogates: only the stdlib parser copes
            return _parse_slow(data)
    elif isinstance(data, bytes):
        raw = data
    else:
        raw = bytes(data)
    if has_long_integer(raw):
        return _parse_slow(raw)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _parse_slow(raw)


loads = parse_json


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value (``null``, ``boolean``, ``number``, ``string``, ``array``,
    ``object``); anything else a parser cannot return counts as ``string``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "string"
