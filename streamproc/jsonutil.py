"""Fast JSON encode/decode with exact big integers: orjson first, the standard library as fallback."""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps", "loads", "dumps_str"]

_OPTS = orjson.OPT_NON_STR_KEYS


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON. Integers beyond 64 bits fall back to the standard library (exact)."""
    try:
        return orjson.dumps(obj, option=_OPTS)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def dumps_str(obj: Any) -> str:
    return dumps(obj).decode()


def loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
