"""Fuzz target: ``streamproc.sources.extjson`` — MongoDB Extended JSON (every mode) → plain JSON.

Input: Extended JSON text. Two paths per input:

1. the module's contract: :func:`~streamproc.sources.extjson.loads` returns plain, strict JSON
   or raises ``ExtJSONError``/``JSONTextError`` (under ``FUZZ_STRICT=1`` nothing else; otherwise
   also what the Decoder's safety net turns into a DLQ record);
2. the worker's path: the text as the ``after`` document of a Debezium MongoDB envelope and as
   the ``fullDocument`` of a mongo-kafka event written by its Extended JSON formatter, through
   the :class:`~streamproc.sources.Decoder` (only ``DecodeError`` may escape).
"""

from __future__ import annotations

import json
from typing import Any

from fuzz.harness import check_decode_error, event_json, strict_json, strict_mode, twice
from fuzz.mutator import text_mutator
from streamproc.errors import DecodeError
from streamproc.sources import Decoder
from streamproc.sources.extjson import ExtJSONError, loads
from streamproc.sources.jsontext import JSONTextError

__all__ = ["test_one_input", "custom_mutator"]

custom_mutator = text_mutator

_DECODER = Decoder()
_CONTRACT: tuple[type[Exception], ...] = (ExtJSONError, JSONTextError)
# what the Decoder's safety net absorbs (streamproc.sources.decoder): a DLQ record, not a crash
_ABSORBED: tuple[type[Exception], ...] = (
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    IndexError,
    ArithmeticError,
    RecursionError,
)


def _loads(data: bytes) -> Any:
    allowed = _CONTRACT if strict_mode() else _CONTRACT + _ABSORBED
    try:
        return loads(data)
    except allowed as exc:  # the module's documented errors, made typed as the Decoder does
        raise DecodeError(f"extjson: {type(exc).__name__}") from None


def _envelope(text: str) -> bytes:
    source = {"connector": "mongodb", "name": "fuzz", "ts_ms": 1, "db": "db", "collection": "c", "ord": 1}
    return json.dumps({"op": "c", "after": text, "source": source, "ts_ms": 2}).encode()


def _mongo_kafka(data: bytes) -> bytes:
    head = b'{"_id":{"_data":"8263"},"operationType":"insert","clusterTime":{"$timestamp":{"t":1,"i":2}},'
    head += b'"ns":{"db":"db","coll":"c"},"documentKey":{"_id":1},"fullDocument":'
    return head + data + b"}"


def test_one_input(data: bytes) -> None:
    twice(lambda: _loads(data), lambda v: strict_json(v, "converted Extended JSON"))
    value = _envelope(data.decode("utf-8", "replace"))
    check_decode_error(twice(lambda: _DECODER.decode("db.db.c", None, value, fmt="debezium-mongodb"), event_json))
    wrapped = _mongo_kafka(data)
    check_decode_error(twice(lambda: _DECODER.decode("db.db.c", None, wrapped, fmt="mongo-kafka"), event_json))
