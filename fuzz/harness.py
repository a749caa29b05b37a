"""The invariants every fuzz target asserts, and the record framing the decoder targets share.

A target's ``test_one_input(data)`` returns normally when the input was handled correctly and
raises otherwise; atheris then stores the input as a reproducer. Correct means:

* **only typed errors**: the code under test either returns or raises one of :data:`TYPED`
  (``DecodeError``, ``ConfigError``, ``ValidationFailed``: what becomes a DLQ record or exit 2);
  anything else (``KeyError``, ``RecursionError``, ``MemoryError``, ``decimal.InvalidOperation``…)
  is a crash;
* **strict output**: every decoded event and clean event is strict JSON (no NaN/Infinity, no lone
  surrogate, plain JSON types only), positions are tuples of integers;
* **value-free errors**: a ``DecodeError`` message or a DLQ reason never quotes a string value of
  the input (:func:`check_no_echo`: values of 8 characters or more that are not also keys, format
  names, the topic or configured names);
* **deterministic**: the same input run twice gives equal output (or the same typed error);
* **bounded**: memory and time per input are bounded by the runner (``-rss_limit_mb``,
  ``-timeout``, and an address-space ceiling set in ``python -m fuzz``).

``FUZZ_STRICT=1`` also fails on what the boundaries absorb: a decoder failure caught by the
:class:`~streamproc.sources.Decoder`'s safety net (reported as "malformed message (KeyError)")
and a ``DeadLetter`` of class ``internal`` from the processor. Those are DLQ records, not crashes,
but each one names a bug a decoder or a pipeline stage should reject by name. (``python -m fuzz``
switches the safety net off in its own process only, :func:`surface_absorbed`.)
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from streamproc.errors import ConfigError, DecodeError, ValidationFailed
from streamproc.model import FORMATS, ChangeEvent, Skip

__all__ = [
    "TYPED",
    "strict_mode",
    "InvariantViolation",
    "SafetyNetHit",
    "typed_outcome",
    "twice",
    "strict_json",
    "event_json",
    "check_decode_error",
    "check_no_echo",
    "input_strings",
    "check_strict_bytes",
    "decoder_target",
    "surface_absorbed",
    "split_record",
    "join_record",
]

#: the errors that may leave the code under test: each becomes a DLQ record or exit status 2
TYPED: tuple[type[Exception], ...] = (DecodeError, ConfigError, ValidationFailed)


def strict_mode() -> bool:
    """``FUZZ_STRICT=1``: fail on safety-net hits too (see the module docstring); read per call."""
    return os.environ.get("FUZZ_STRICT", "") == "1"


_SAFETY_NET_MARK = ": malformed message ("


class InvariantViolation(AssertionError):
    """The code under test returned something a contract forbids (non-strict JSON, non-determinism…)."""


class SafetyNetHit(AssertionError):
    """``FUZZ_STRICT=1``: a boundary absorbed an untyped exception (a bug behind a DLQ record)."""


def typed_outcome(fn: Callable[[], Any], render: Callable[[Any], Any]) -> tuple[str, Any]:
    """``("ok", render(fn()))`` or ``("error", "<class>: <message>")`` for a typed error; any other
    exception propagates (a crash)."""
    try:
        result = fn()
    except TYPED as exc:
        return ("error", f"{type(exc).__name__}: {exc}")
    return ("ok", render(result))


def twice(fn: Callable[[], Any], render: Callable[[Any], Any]) -> tuple[str, Any]:
    """Run ``fn`` twice through :func:`typed_outcome` and require equal outcomes (determinism)."""
    first = typed_outcome(fn, render)
    second = typed_outcome(fn, render)
    if first != second:
        raise InvariantViolation(f"non-deterministic: first run {first[0]}, second run {second[0]}")
    return first


def _reject_constant(token: str) -> Any:
    raise InvariantViolation(f"non-strict JSON token {token}")


_PLAIN_SCALARS = (str, int, float, bool, type(None))


def _check_plain(obj: Any, what: str) -> None:
    """Plain JSON types only: dicts with string keys, lists, str/int/float/bool/None."""
    stack = [obj]
    while stack:
        item = stack.pop()
        t = type(item)
        if t is dict:
            if any(type(k) is not str for k in item):
                raise InvariantViolation(f"{what} has an object key that is not a string")
            stack.extend(item.values())
        elif t is list:
            stack.extend(item)
        elif t not in _PLAIN_SCALARS:
            raise InvariantViolation(f"{what} holds a {t.__name__}, not a plain JSON value")


def strict_json(obj: Any, what: str) -> str:
    """``obj`` as strict JSON text (plain types, finite numbers, valid UTF-8), else InvariantViolation."""
    _check_plain(obj, what)
    try:
        text = json.dumps(obj, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        text.encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvariantViolation(f"{what} is not strict JSON ({type(exc).__name__})") from None
    return text


def check_strict_bytes(data: bytes, what: str) -> Any:
    """Parse ``data`` (an encoded clean event) as strict UTF-8 JSON, else InvariantViolation."""
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvariantViolation(f"{what} is not strict UTF-8 JSON ({type(exc).__name__})") from None


def event_json(result: Any) -> str:
    """The canonical text of a decoder's result, checking the ChangeEvent/Skip contract."""
    if isinstance(result, Skip):
        return strict_json(result.to_json(), "a skip")
    if not isinstance(result, ChangeEvent):
        raise InvariantViolation(f"decoder returned {type(result).__name__}, not ChangeEvent or Skip")
    if type(result.position) is not tuple or any(type(p) is not int for p in result.position):
        raise InvariantViolation("position is not a tuple of integers")
    if type(result.key) is not dict:
        raise InvariantViolation("key is not an object")
    for name in ("before", "after"):
        doc = getattr(result, name)
        if doc is not None and type(doc) is not dict:
            raise InvariantViolation(f"{name} is not an object")
    if result.ts_ms is not None and type(result.ts_ms) is not int:
        raise InvariantViolation("ts_ms is not an integer")
    return strict_json(result.to_json(), "a decoded event")


def input_strings(data: bytes, min_length: int = 8) -> set[str]:
    """The string *values* (not keys) of at least ``min_length`` characters in the JSON parts of
    ``data`` (split on line feeds and tabs; JSON texts inside strings too), minus any that is
    also a key: the values an error message must never quote."""
    values: set[str] = set()
    keys: set[str] = set()
    for line in data.split(b"\n"):
        for part in line.split(b"\t"):
            try:
                stack = [json.loads(part)]
            except (ValueError, RecursionError):
                continue
            while stack:
                item = stack.pop()
                if type(item) is dict:
                    keys.update(item)
                    stack.extend(item.values())
                elif type(item) is list:
                    stack.extend(item)
                elif type(item) is str and len(item) >= min_length:
                    values.add(item)
                    if item[:1] in ("{", "["):
                        with contextlib.suppress(ValueError, RecursionError):
                            stack.append(json.loads(item))
    return values - keys


def check_no_echo(message: str, data: bytes, what: str, allowed: Sequence[str] = ()) -> None:
    """An error message or DLQ reason must not quote a value of the input (keys, formats and
    positions are fine, and so is a value that is part of a format name or an ``allowed`` name:
    the topic, the configured entities, or found only where the message names one, as in
    ``debezium-mongodb: …`` for a value ``mongodb:``): InvariantViolation otherwise, naming neither."""
    names = (*FORMATS, *allowed)
    rest = message
    for name in sorted(filter(None, names), key=len, reverse=True):
        rest = rest.replace(name, "\x00")  # where the message names a format or topic, it quotes nothing
    for value in input_strings(data):
        if value in rest and not any(value in name for name in names):
            raise InvariantViolation(f"{what} quotes a value of the input ({len(value)} characters)")


def check_decode_error(outcome: tuple[str, Any]) -> None:
    """Under ``FUZZ_STRICT=1``, a DecodeError from the Decoder's safety net is a failure."""
    if strict_mode() and outcome[0] == "error" and _SAFETY_NET_MARK in outcome[1]:
        raise SafetyNetHit(outcome[1])


def surface_absorbed() -> None:
    """Under ``FUZZ_STRICT=1``, switch the Decoder's safety net off, so the exception it would turn
    into "malformed message (…)" is reported with its traceback and line."""
    if strict_mode():
        from streamproc.sources import decoder as decoder_module

        decoder_module._SAFETY_NET = ()  # type: ignore[assignment]  # fuzz-only: surface absorbed bugs


def decoder_target(decoder: Any, fmt: str | None, default_topic: str) -> Callable[[bytes], None]:
    """A ``test_one_input`` that decodes one framed record (:func:`split_record`) with ``fmt``
    (``None``: auto-detection) twice and checks the result. Under ``FUZZ_STRICT=1`` the Decoder's
    safety net is switched off (:func:`surface_absorbed`)."""

    def test_one_input(data: bytes) -> None:
        topic, key, value = split_record(data, default_topic)
        outcome = twice(lambda: decoder.decode(topic, key, value, fmt=fmt), event_json)
        check_decode_error(outcome)
        if outcome[0] == "error":
            check_no_echo(outcome[1], (key or b"") + b"\n" + (value or b""), "a DecodeError message", (topic,))

    return test_one_input


def split_record(data: bytes, default_topic: str) -> tuple[str, bytes | None, bytes | None]:
    """Fuzz bytes → ``(topic, key, value)``.

    Framing (what :func:`join_record` writes): ``topic LF key LF value``; compact JSON holds no
    raw line feed, so corpus records keep their shape. Fewer parts: ``value`` alone, or
    ``key LF value``. An empty topic is ``default_topic``, an empty key ``None``; a value of the
    single byte ``~`` is a tombstone (``None``).
    """
    parts = data.split(b"\n", 2)
    if len(parts) == 3:
        raw_topic, key, value = parts
    elif len(parts) == 2:
        raw_topic, (key, value) = b"", parts
    else:
        raw_topic, key, value = b"", b"", parts[0]
    topic = raw_topic.decode("utf-8", "replace") or default_topic
    return topic, key or None, None if value == b"~" else value


def join_record(topic: str, key: Any, value: Any) -> bytes:
    """A seed for :func:`split_record`: JSON key and value (``None`` value → tombstone); ``bytes``
    are taken as they are."""

    def enc(v: Any) -> bytes:
        if isinstance(v, bytes):
            return v
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")

    key_bytes = b"" if key is None else enc(key)
    value_bytes = b"~" if value is None else enc(value)
    return topic.encode() + b"\n" + key_bytes + b"\n" + value_bytes
