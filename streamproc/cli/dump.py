"""The JSON Lines dump format read by ``streamproc decode`` and ``streamproc dry-run``.

One record per line::

    {"topic": "dbserver1.inventory.customers", "key": <JSON or null>, "value": <JSON or null>}

* ``key``/``value`` hold the already parsed JSON of the Kafka key/value; ``"value": null`` is a
  tombstone. ``key`` may be omitted (= null); ``value`` may not.
* ``key_b64``/``value_b64`` (instead of ``key``/``value``) carry raw bytes, base64-encoded —
  Confluent Avro, or bytes that are not JSON at all. ``"value_b64": null`` is a tombstone.
* Optional ``offset`` (integer): the Kafka offset, used as the position of messages that
  carry no ordering information.
* Blank lines are ignored. A malformed line (not JSON, not an object, no string ``topic``,
  no value, both ``value`` and ``value_b64``, invalid base64) yields a :class:`DumpError`
  for that line and reading continues.

Numbers are parsed exactly (integers beyond 2^53 and 2^64 stay integers); :func:`to_json_line`
writes strict JSON (never ``NaN``: non-finite floats become ``null``).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import orjson

from streamproc.errors import ConfigError
from streamproc.sources.common import json_error_where, parse_json

__all__ = ["DumpRecord", "DumpError", "open_input", "read_dump", "to_json_line"]


@dataclass(frozen=True, slots=True)
class DumpRecord:
    """One input record. When ``raw`` is true, ``key``/``value`` are bytes (or ``None``)."""

    line_no: int
    topic: str
    key: Any
    value: Any
    raw: bool = False
    offset: int | None = None


@dataclass(frozen=True, slots=True)
class DumpError:
    """A malformed input line; ``reason`` starts with ``input line N:`` and holds no data."""

    line_no: int
    reason: str


def open_input(path: str | None) -> TextIO:
    """The dump file at ``path``; stdin for ``None`` or ``-``. A file that cannot be opened is a
    :class:`~streamproc.errors.ConfigError` naming it."""
    if path is None or path == "-":
        return sys.stdin
    try:
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot open input ({exc.strerror})") from None


def _b64(record: dict[str, Any], field: str) -> bytes | None:
    text = record[field]
    if text is None:
        return None
    if type(text) is not str:
        raise ValueError(f"'{field}' is not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"'{field}' is not valid base64") from None


def _to_bytes(value: Any) -> bytes | None:
    return None if value is None else to_json_line(value, newline=False).encode()


def _record(line_no: int, obj: Any) -> DumpRecord:
    if type(obj) is not dict:
        raise ValueError("not a JSON object")
    topic = obj.get("topic")
    if type(topic) is not str or not topic:
        raise ValueError("missing 'topic' (a non-empty string)")
    if "value" in obj and "value_b64" in obj:
        raise ValueError("both 'value' and 'value_b64'")
    if "key" in obj and "key_b64" in obj:
        raise ValueError("both 'key' and 'key_b64'")
    if "value" not in obj and "value_b64" not in obj:
        raise ValueError("missing 'value' (null for a tombstone) or 'value_b64'")
    offset = obj.get("offset")
    if offset is not None and type(offset) is not int:
        raise ValueError("'offset' is not an integer")
    if "key_b64" in obj or "value_b64" in obj:
        key = _b64(obj, "key_b64") if "key_b64" in obj else _to_bytes(obj.get("key"))
        value = _b64(obj, "value_b64") if "value_b64" in obj else _to_bytes(obj["value"])
        return DumpRecord(line_no, topic, key, value, True, offset)
    return DumpRecord(line_no, topic, obj.get("key"), obj["value"], False, offset)


def read_dump(lines: Iterable[str | bytes]) -> Iterator[DumpRecord | DumpError]:
    """Yield one :class:`DumpRecord` or :class:`DumpError` per non-blank line, in order."""
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = parse_json(line)
        except ValueError as exc:
            yield DumpError(line_no, f"input line {line_no}: not JSON ({json_error_where(exc)})")
            continue
        try:
            yield _record(line_no, obj)
        except ValueError as exc:
            yield DumpError(line_no, f"input line {line_no}: {exc}")


def _finite(value: Any) -> Any:
    t = type(value)
    if t is dict:
        return {k: _finite(v) for k, v in value.items()}
    if t is list or t is tuple:
        return [_finite(v) for v in value]
    if t is float and not math.isfinite(value):
        return None
    return value


def to_json_line(obj: Any, newline: bool = True) -> str:
    """Strict, compact JSON (big integers exact, non-finite floats → null), ``\\n``-terminated."""
    try:
        text = orjson.dumps(obj).decode()
    except TypeError:  # integers beyond 64 bits
        text = json.dumps(_finite(obj), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text + "\n" if newline else text
