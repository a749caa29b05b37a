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
#: a number token holding a run of 20 digits (or a minus and 19) anywhere: a token starts at the
#: start of the text or after ``:``, ``,`` or ``[`` and whitespace. Inside a string it may match
#: too (then the exact parser runs, which is only slower); a number token always matches.
_LONG_NUMBER = re.compile(rb"(?:^|[:,\[])[ \t\r\n]*-?[0-9.eE+\-]*?(?:[0-9]{20}|-[0-9]{19})")


def has_long_integer(raw: bytes) -> bool:
    """Whether ``raw`` may hold a number token with a run of 20 digits (or a minus and 19): an
    integer orjson cannot keep exactly (beyond 64 bits), or a literal the strict parsers bound.
    A digit run is looked for first (fast, in C), then whether it is in a number token, so long
    digit runs inside strings (identifiers, hex ids) keep the fast parser."""
    scan = raw.translate(_DIGITS)
    if _RUN20 not in scan and _NEG19 not in scan:
        return False
    return _LONG_NUMBER.search(raw) is not None


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
