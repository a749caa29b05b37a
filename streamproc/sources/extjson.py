"""MongoDB Extended JSON (every mode) → plain JSON values.

Accepted input: v1 *strict* / *legacy* (``{"$numberLong": "1"}``, ``{"$date": <millis>}``,
``{"$binary": b64, "$type": "00"}``, ``{"$regex", "$options"}``), v2 *relaxed* and
*canonical* (``{"$numberInt"}``, ``{"$numberDouble"}``, ``{"$date": {"$numberLong"}}``,
``{"$binary": {"base64", "subType"}}``, ``{"$regularExpression"}``), any whitespace style, and
Java-style strict output with bare ``NaN``/``Infinity`` tokens or ``1.0E+20`` (text is parsed
by :func:`~streamproc.sources.common.parse_json`). Wrappers are decoded by
``bson.json_util.object_hook``; a few frequent ones are handled inline for speed.

Output choices (plain, strict JSON):

=====================  ===========================================================
ObjectId               24-hex string (lower case; a malformed ``$oid`` string is kept as is)
Date                   ``"2026-07-03T17:59:45.729Z"`` (UTC, milliseconds); outside years
                       1–9999 the integer epoch milliseconds
Int32 / Int64          integer (exact; more than 40 digits: malformed)
Double NaN/±Infinity   ``"NaN"``/``"Infinity"``/``"-Infinity"`` (JSON has no NaN; a bare token
                       and ``$numberDouble`` alike, see :mod:`.jsontext`)
Decimal128             decimal string, e.g. ``"12345.6789"``
Binary (any subtype)   base64 string (``$uuid`` too: it is Binary subtype 4)
Timestamp              ``{"t": seconds, "i": increment}``
Regular expression     ``"/pattern/options"`` (JavaScript literal form, options kept)
MinKey / MaxKey        ``"MinKey"`` / ``"MaxKey"``
Code                   the code string (``{"code", "scope"}`` when it has a scope)
DBRef                  ``{"$ref", "$id", ["$db"]}`` with plain values
Undefined              ``null``
=====================  ===========================================================

A dict is taken to be a wrapper when its *first* key starts with ``$`` (writers always put
the type key first); other dicts are plain documents and are rebuilt, never mutated. A malformed
wrapper raises :class:`ExtJSONError` naming the Extended JSON type from a fixed list, never a
key or value of the input (a ``$``-key of the input may itself be data).
"""

from __future__ import annotations

import base64
import datetime as _dt
import re
import uuid
from typing import Any

from bson import json_util
from bson.binary import Binary
from bson.code import Code
from bson.datetime_ms import DatetimeMS
from bson.dbref import DBRef
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.json_util import DatetimeConversion, JSONOptions
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp

from streamproc.sources.common import iso_from_epoch
from streamproc.sources.jsontext import MAX_DEPTH, finite, parse_json

__all__ = ["ExtJSONError", "to_plain", "loads", "iso_datetime"]

_OPTIONS = JSONOptions(
    tz_aware=True,
    tzinfo=_dt.UTC,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
)
_PLAIN_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")  # ≤ 34 chars: exact in Decimal128
_RE_FLAGS = (
    (re.IGNORECASE, "i"),
    (re.LOCALE, "l"),
    (re.MULTILINE, "m"),
    (re.DOTALL, "s"),
    (re.UNICODE, "u"),
    (re.VERBOSE, "x"),
)


_TYPE_KEYS = frozenset(
    (
        "$oid", "$numberLong", "$numberInt", "$numberDouble", "$numberDecimal", "$date", "$binary",
        "$type", "$uuid", "$regularExpression", "$regex", "$options", "$timestamp", "$minKey",
        "$maxKey", "$code", "$scope", "$symbol", "$undefined", "$dbPointer", "$ref", "$id", "$db",
    )
)  # fmt: skip
_HEX24 = re.compile(r"[0-9a-fA-F]{24}")
_INT_TEXT = re.compile(r"-?[0-9]{1,40}")  # exact at any size a writer produces, bounded


class ExtJSONError(ValueError):
    """Malformed Extended JSON; the message names the wrapper type, never the value."""


def wrapper_name(d: dict[str, Any]) -> str:
    """The Extended JSON type a wrapper dict claims, from a fixed list (never an input key)."""
    for key in d:
        if key in _TYPE_KEYS:
            return key
    return "$-prefixed"


def _malformed(d: dict[str, Any]) -> ExtJSONError:
    return ExtJSONError(f"invalid Extended JSON {wrapper_name(d)} wrapper")


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse Extended JSON text (at most ``max_depth`` levels) and convert it to plain JSON values."""
    return to_plain(parse_json(text, max_depth))


def to_plain(value: Any) -> Any:
    """Convert parsed Extended JSON (dicts/lists/scalars) to plain JSON values."""
    t = type(value)
    if t is dict:
        for first in value:
            if first[:1] == "$":
                return _wrapper(first, value)
            break
        out = {}
        for k, v in value.items():
            tv = type(v)
            if tv is dict or tv is list:
                v = to_plain(v)
            elif tv is float and v - v != 0:
                v = finite(v)
            out[k] = v
        return out
    if t is list:
        return [to_plain(v) if type(v) in (dict, list) else (finite(v) if type(v) is float else v) for v in value]
    if t is float:
        return finite(value)
    return value


def iso_datetime(value: _dt.datetime) -> str:
    """An aware or naive-UTC datetime → ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    if value.tzinfo is not None:
        value = value.astimezone(_dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def _wrapper(first: str, d: dict[str, Any]) -> Any:
    inner = d[first]
    n = len(d)
    if n == 1:
        ti = type(inner)
        if first == "$oid" and ti is str:
            return inner.lower() if _HEX24.fullmatch(inner) else inner
        if (first == "$numberLong" or first == "$numberInt") and ti is str:
            if _INT_TEXT.fullmatch(inner):
                return int(inner)
            raise ExtJSONError(f"invalid Extended JSON {first} wrapper")
        if first == "$date" and ti is int:
            return iso_from_epoch(inner, 1000, 3)
        if first == "$numberDecimal" and ti is str and len(inner) <= 34 and _PLAIN_DECIMAL.fullmatch(inner):
            return inner  # what Decimal128(inner) would print back, without the round trip
        if (
            first == "$regularExpression"
            and ti is dict
            and type(inner.get("pattern", "")) is str
            and type(inner.get("options", "")) is str
        ):
            return f"/{inner.get('pattern', '')}/{inner.get('options', '')}"
    if "$oid" in d and type(d["$oid"]) is not str:  # bson's ObjectId(None) would invent a fresh id
        raise _malformed(d)
    if first == "$regex" and type(inner) is str and n <= 2:
        options = d.get("$options", "")
        return f"/{inner}/{options if type(options) is str else ''}"
    try:
        converted = json_util.object_hook(_bsonify_children(d), _OPTIONS)
    except ExtJSONError:
        raise
    except Exception:  # noqa: BLE001 - json_util raises TypeError/ValueError/InvalidId/…, quoting the value
        raise _malformed(d) from None
    return _from_bson(converted)


def _bsonify(value: Any) -> Any:
    """Bottom-up conversion to BSON types, as ``json_util.loads`` would do it."""
    t = type(value)
    if t is dict:
        converted = _bsonify_children(value)
        for first in value:
            if first[:1] == "$":
                if "$oid" in value and type(value["$oid"]) is not str:  # as in _wrapper
                    raise _malformed(value)
                try:
                    return json_util.object_hook(converted, _OPTIONS)
                except Exception:  # noqa: BLE001 - as in _wrapper: the library's text may quote the value
                    raise _malformed(value) from None
            break
        return converted
    if t is list:
        return [_bsonify(v) for v in value]
    return value


def _bsonify_children(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (_bsonify(v) if type(v) in (dict, list) else v) for k, v in d.items()}


def _from_bson(value: Any) -> Any:
    t = type(value)
    if t is dict:
        return {k: _from_bson(v) for k, v in value.items()}
    if t is list:
        return [_from_bson(v) for v in value]
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        return finite(value)
    if t is ObjectId:
        return str(value)
    if isinstance(value, _dt.datetime):
        return iso_datetime(value)
    if t is Int64:
        return int(value)
    if t is Decimal128:
        return str(value)
    if isinstance(value, (bytes, Binary)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if t is Timestamp:
        return {"t": value.time, "i": value.inc}
    if t is Regex:
        return _regex(value)
    if t is DatetimeMS:
        return int(value)
    if t is uuid.UUID:
        return str(value)
    if t is MinKey:
        return "MinKey"
    if t is MaxKey:
        return "MaxKey"
    if t is Code:
        code = str(value)
        return code if value.scope is None else {"code": code, "scope": _from_bson(value.scope)}
    if t is DBRef:
        out = {"$ref": value.collection, "$id": _from_bson(value.id)}
        if value.database is not None:
            out["$db"] = value.database
        return out
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    raise ExtJSONError(f"unsupported BSON type {t.__name__}")


def _regex(value: Regex) -> str:
    flags = value.flags
    if isinstance(flags, str):
        options = flags
    else:
        options = "".join(letter for bit, letter in _RE_FLAGS if flags & bit)
    pattern = value.pattern
    if isinstance(pattern, bytes):
        pattern = pattern.decode("utf-8", "replace")
    return f"/{pattern}/{options}"
