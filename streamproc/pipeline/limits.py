"""Bounded work per record: the :class:`Limits` every record is checked against, and the checks.

A record that breaks a limit becomes a DLQ record of class ``poison`` whose reason names the
limit (``limit max_depth=200 exceeded: …``) and the part of the event (``after``,
``update.set``, …), never a key or a value of the payload. The checks are iterative (no
recursion, so no :class:`RecursionError`) and stop at the first violation, so a hostile record
costs at most about the limits it breaks.

* ``max_document_bytes`` — a document (``before``, ``after``, the merged state) may not be
  larger than this, estimated from its strings and scalars; a raw message may hold two
  documents, so its key and value together may not exceed twice the limit.
* ``max_depth`` — nesting levels of a document; an update key counts one level per segment
  plus the depth of its value.
* ``max_update_path_segments`` — segments of one dotted update key (``a.b.0.c`` has four).
* ``max_array_pad`` — ``null`` elements an update may add in total to reach the indexes it sets
  (MongoDB pads an array up to the index; the budget is per record, not per key).
* ``max_fields`` — object members and array elements in one record, all documents together.

:class:`Limits` is a plain frozen dataclass (built from ``Settings.limits`` by
``streamproc.runtime.processor.build_processor``); this module is pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from streamproc.errors import DecodeError

if TYPE_CHECKING:
    from streamproc.model import ChangeEvent

__all__ = ["Limits", "LimitExceeded", "DEFAULT_LIMITS", "TreeSize", "measure", "check_update_keys", "check_event"]

_MIB = 1024 * 1024


class LimitExceeded(DecodeError):
    """A record breaks one of the :class:`Limits` (a ``poison`` DLQ record); names no values."""

    def __init__(self, limit: str, value: int, what: str) -> None:
        super().__init__(f"limit {limit}={value} exceeded: {what}")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Limits:
    """The per-record limits (see the module docstring); every value is a positive integer."""

    max_document_bytes: int = 16 * _MIB
    max_depth: int = 200
    max_update_path_segments: int = 200
    max_array_pad: int = 100_000
    max_fields: int = 1_000_000

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if type(v) is not int or v < 1:
                raise ValueError(f"Limits.{f.name} must be a positive integer")

    def exceeded(self, limit: str, what: str) -> LimitExceeded:
        """The error for ``limit`` (a field name of this class), describing ``what`` broke it."""
        return LimitExceeded(limit, getattr(self, limit), what)


DEFAULT_LIMITS = Limits()


@dataclass(slots=True)
class TreeSize:
    """What :func:`measure` found: nesting depth, fields and estimated encoded bytes."""

    depth: int = 0
    fields: int = 0
    bytes: int = 0


def _scalar_bytes(v: Any, limits: Limits, what: str) -> int:
    t = type(v)
    if t is str:
        return len(v) + 2
    if t is float and not math.isfinite(v):
        raise DecodeError(f"{what} holds a non-finite number (NaN or Infinity); clean events are strict JSON")
    return 8


def measure(value: Any, limits: Limits, what: str, *, base_depth: int = 0, fields_left: int | None = None) -> TreeSize:
    """Walk ``value`` once and check depth (``base_depth`` levels already above it), fields (at
    most ``fields_left``, default ``max_fields``) and size; raise :class:`LimitExceeded` (or a
    :class:`DecodeError` for a non-finite float) naming ``what``."""
    budget = limits.max_fields if fields_left is None else fields_left
    max_depth = limits.max_depth
    max_bytes = limits.max_document_bytes
    size = TreeSize()
    stack: list[tuple[Any, int]] = [(value, base_depth)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        t = type(node)
        if t is dict or t is list:
            depth += 1
            if depth > max_depth:
                raise limits.exceeded("max_depth", f"{what} is nested too deeply")
            if depth > size.depth:
                size.depth = depth
            n = len(node)
            size.fields += n
            if size.fields > budget:
                raise limits.exceeded("max_fields", f"{what} has too many fields")
            size.bytes += 2 + n
            if t is dict:
                for k, v in node.items():
                    size.bytes += len(k) + 3 if type(k) is str else 8
                    if type(v) is dict or type(v) is list:
                        push((v, depth))
                    else:
                        size.bytes += _scalar_bytes(v, limits, what)
            else:
                for v in node:
                    if type(v) is dict or type(v) is list:
                        push((v, depth))
                    else:
                        size.bytes += _scalar_bytes(v, limits, what)
            if size.bytes > max_bytes:
                raise limits.exceeded("max_document_bytes", f"{what} is too large")
        else:
            size.bytes += _scalar_bytes(node, limits, what)
    if size.bytes > max_bytes:
        raise limits.exceeded("max_document_bytes", f"{what} is too large")
    return size


def check_update_keys(
    set_: dict[str, Any], unset: tuple[str, ...], limits: Limits, *, fields_left: int | None = None
) -> int:
    """Check a partial update's dotted keys and values; return the fields it holds.

    Each key (and each ``unset`` path) has at most ``max_update_path_segments`` segments; a key's
    segments plus its value's depth stay within ``max_depth``.
    """
    budget = limits.max_fields if fields_left is None else fields_left
    max_segments = limits.max_update_path_segments
    total = TreeSize()
    for key, value in set_.items():
        segments = key.count(".") + 1
        if segments > max_segments:
            raise limits.exceeded("max_update_path_segments", "an update.set key has too many segments")
        size = measure(value, limits, "update.set", base_depth=segments, fields_left=budget - total.fields - 1)
        total.fields += size.fields + 1
        total.bytes += size.bytes + len(key) + 3
        if total.bytes > limits.max_document_bytes:
            raise limits.exceeded("max_document_bytes", "update.set is too large")
    for path in unset:
        if path.count(".") + 1 > max_segments:
            raise limits.exceeded("max_update_path_segments", "an update.unset path has too many segments")
    total.fields += len(unset)
    if total.fields > budget:
        raise limits.exceeded("max_fields", "the update has too many fields")
    return total.fields


def check_event(ev: ChangeEvent, limits: Limits) -> None:
    """Check everything a decoded event holds: its key, ``before``, ``after`` and update, with
    one field budget for the whole record."""
    used = measure(ev.key, limits, "the key").fields
    for what, doc in (("before", ev.before), ("after", ev.after)):
        if doc is not None:
            used += measure(doc, limits, what, fields_left=limits.max_fields - used).fields
    if ev.update is not None:
        check_update_keys(ev.update.set, ev.update.unset, limits, fields_left=limits.max_fields - used)
