"""Apply a partial update (dotted-path set/unset) to a full document. Pure; never mutates input.

The work is bounded by :class:`~streamproc.pipeline.limits.Limits`: the ``null`` elements an
update adds to reach the array indexes it sets count against ``max_array_pad`` for the whole
update, and the check comes before any allocation, so ``{"tags.300000000": 1}`` fails at once
(:class:`~streamproc.pipeline.limits.LimitExceeded`). Only ASCII digits index an array.
"""

from __future__ import annotations

import copy
from typing import Any

from streamproc.errors import ValidationFailed
from streamproc.model import Update
from streamproc.pipeline.limits import DEFAULT_LIMITS, Limits

__all__ = ["apply_update", "expand_paths", "array_index"]


def array_index(seg: str) -> int | None:
    """The array index a path segment names (ASCII digits only), else ``None``."""
    return int(seg) if seg.isascii() and seg.isdigit() else None


class _Pad:
    __slots__ = ("left", "limits")

    def __init__(self, limits: Limits) -> None:
        self.left = limits.max_array_pad
        self.limits = limits

    def extend(self, node: list[Any], idx: int) -> None:
        """Grow ``node`` so ``idx`` exists, counting the padding ``null``\\ s first."""
        missing = idx + 1 - len(node)
        if missing <= 0:
            return
        pad = missing - 1
        if pad > self.left:
            raise self.limits.exceeded("max_array_pad", "the update pads arrays with too many elements")
        self.left -= pad
        node.extend([None] * missing)


def _not_in_array() -> ValidationFailed:
    return ValidationFailed("update: a key names a field inside an array by a non-numeric segment")


def _set_path(doc: dict[str, Any], path: str, value: Any, pad: _Pad) -> None:
    parts = path.split(".")
    node: Any = doc
    for i, seg in enumerate(parts[:-1]):
        if isinstance(node, list):
            idx = array_index(seg)
            if idx is None:
                raise _not_in_array()
            pad.extend(node, idx)
            child = node[idx]
            if not isinstance(child, (dict, list)):
                child = [] if array_index(parts[i + 1]) is not None else {}
                node[idx] = child
            node = child
        else:
            child = node.get(seg)
            if not isinstance(child, (dict, list)):
                child = {}
                node[seg] = child
            node = child
    last = parts[-1]
    if isinstance(node, list):
        idx = array_index(last)
        if idx is None:
            raise _not_in_array()
        pad.extend(node, idx)
        node[idx] = value
    else:
        node[last] = value


def _unset_path(doc: dict[str, Any], path: str) -> None:
    node: Any = doc
    parts = path.split(".")
    for seg in parts[:-1]:
        if isinstance(node, list):
            idx = array_index(seg)
            if idx is None or idx >= len(node):
                return
            node = node[idx]
        elif isinstance(node, dict) and seg in node:
            node = node[seg]
        else:
            return
    last = parts[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list):
        idx = array_index(last)
        if idx is not None and idx < len(node):
            node[idx] = None  # MongoDB $unset on an array element leaves null


def apply_update(doc: dict[str, Any], update: Update, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """The document after ``update``: ``set`` paths assigned, ``unset`` paths removed.

    Raises :class:`~streamproc.pipeline.limits.LimitExceeded` when the padding would pass
    ``limits.max_array_pad``, :class:`~streamproc.errors.ValidationFailed` when a key names an
    array element by a non-numeric segment (MongoDB refuses such an update too).
    """
    out = copy.deepcopy(doc)
    pad = _Pad(limits)
    for path, value in update.set.items():
        _set_path(out, path, copy.deepcopy(value), pad)
    for path in update.unset:
        _unset_path(out, path)
    return out


def expand_paths(flat: dict[str, Any], limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """``{"a.b": 1}`` → ``{"a": {"b": 1}}`` (for validating the fields a partial update sets)."""
    out: dict[str, Any] = {}
    pad = _Pad(limits)
    for path, value in flat.items():
        _set_path(out, path, value, pad)
    return out
